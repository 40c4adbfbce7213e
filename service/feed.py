"""service.feed: follow one radar product on DWD's open-data server and keep the newest
nowcast ready (``NOWCAST_FEED_URL``; off by default).

DWD lists every product folder as a plain HTML index (nginx: ``<a href="NAME">NAME</a>``, then
the modification time ``DD-Mon-YYYY HH:MM`` in UTC and the size in bytes) and publishes one
file per 5-minute frame whose name holds the frame's nominal time in UTC, e.g.
``weather/radar/radolan/ry/raa01-ry_10000-2001011550-dwd---bin.bz2`` (plus an undated
``...-latest-...`` alias, which the name pattern leaves out). Like Bright Sky's poller, each
poll lists the folder and fetches only what changed, judged by name and listed size.

One poll (:meth:`Feed.poll_once`), under a lock in Redis so that one process polls at a time:

1. list the folder; keep the frames that can still feed a nowcast at the newest listed time
   (its last ``t_in`` frames) and that are not held yet, nor refused with the same size;
2. download each (timeouts, retries with exponential backoff, a size cap), refuse it unless
   its length is the listed size, it decodes in full, its header time is its name's time and
   its bytes are not a frame already held; keep it in the feed state (Redis, or memory in
   embedded mode), pruned to the last ``keep_hours``;
3. when the newest frame has ``t_in`` consecutive frames, submit the nowcast through the
   ordinary job path (:func:`service.submission.submit`: same job ids, store and runners as
   ``POST /nowcast``).

Between polls the loop sleeps until the next tick (every ``interval_seconds``, shifted by
``offset_seconds``) or, while the next frame is due but not listed, ``recheck_seconds``.
Whatever breaks in a poll is recorded (and logged), never ends the loop. :meth:`Feed.freshness`
says how old the newest frame and nowcast are and, past ``stale_minutes``, why it is stale.
Times are UTC throughout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Protocol
from urllib.parse import urljoin

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class FeedSettings(BaseSettings):
    """The feed's settings (``NOWCAST_FEED_*``); the feed is on when ``url`` is set."""

    model_config = SettingsConfigDict(env_prefix="NOWCAST_FEED_", env_file=".env", extra="ignore")

    url: str | None = Field(
        default=None,
        description="Folder to follow, e.g. https://opendata.dwd.de/weather/radar/radolan/ry/",
    )
    pattern: str = Field(
        default=r"raa01-ry_10000-(?P<time>\d{10})-dwd---bin\.bz2",
        description="Regular expression of a frame's file name; group 'time' is its UTC time.",
    )
    time_format: str = Field(default="%y%m%d%H%M", description="strptime format of 'time'.")
    cadence_minutes: int = Field(default=5, ge=1, description="Minutes between frames.")
    interval_seconds: float = Field(default=300, gt=0, description="Seconds between polls.")
    offset_seconds: float = Field(
        default=150,
        ge=0,
        description="Polls happen this long after each multiple of the interval (UTC): DWD "
        "publishes a frame a few minutes after its nominal time.",
    )
    recheck_seconds: float = Field(
        default=30, gt=0, description="Poll again this soon while the next frame is due."
    )
    keep_hours: float = Field(default=2, gt=0, le=24, description="Frames kept (hours).")
    max_frame_mb: float = Field(default=20, gt=0, description="Largest frame downloaded.")
    timeout_seconds: float = Field(default=20, gt=0, description="Timeout of one request.")
    retries: int = Field(default=3, ge=1, le=10, description="Attempts of one request.")
    stale_minutes: float = Field(
        default=15, gt=0, description="A nowcast or frame older than this is stale."
    )
    gap_wait_minutes: float = Field(
        default=10,
        ge=0,
        description="How long a missing frame is waited for before it is reported as a gap.",
    )
    model: str | None = Field(default=None, description="Model of the feed's nowcasts.")
    steps: int | None = Field(default=None, ge=1, description="Frames forecast (model's t_out).")

    @field_validator("url", "model", mode="before")
    @classmethod
    def _empty_is_none(cls, value):  # compose passes unset variables as ""
        return value or None


class Clock:
    """UTC wall time; the tests replace :data:`CLOCK` by a faster one."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` of this clock's time; True if ``stop`` was set meanwhile."""
        return stop.wait(max(seconds, 0.0))


CLOCK = Clock()


def iso(when: datetime | None) -> str | None:
    """UTC time as ISO 8601 with ``Z`` (seconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


# --------------------------------------------------------------------------------------------
# the folder listing


@dataclass(frozen=True)
class Entry:
    """One listed frame: name, URL, nominal time (UTC) and listed size (None if not given)."""

    name: str
    url: str
    time: datetime
    size: int | None

    @property
    def fingerprint(self) -> str:
        return f"{self.name}:{self.size}"


class _Index(HTMLParser):
    """Anchors of an HTML directory index with the text that follows each (date and size)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_anchor = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.rows.append([dict(attrs).get("href") or "", ""])
            self._in_anchor = True

    def handle_endtag(self, tag):
        if tag == "a":
            self._in_anchor = False

    def handle_data(self, data):
        if self.rows and not self._in_anchor:
            self.rows[-1][1] += data


_SIZE = re.compile(r"\d{2}-\w{3}-\d{4} \d{2}:\d{2}(?::\d{2})?\s+(\d+)")


def parse_listing(html: str, base_url: str, pattern: str, time_format: str) -> list[Entry]:
    """The frames of a directory index, oldest first; other links are left out."""
    index = _Index()
    index.feed(html)
    name_re = re.compile(pattern)
    entries = {}
    for href, after in index.rows:
        name = href.rsplit("/", 1)[-1]
        match = name_re.fullmatch(name)
        if not match:
            continue
        when = datetime.strptime(match.group("time"), time_format).replace(tzinfo=UTC)
        size = _SIZE.search(after)
        entries[name] = Entry(name, urljoin(base_url, href), when, int(size[1]) if size else None)
    return sorted(entries.values(), key=lambda e: e.time)


class Refused(Exception):
    """A downloaded file that is not a frame to keep (truncated, too large, duplicate...)."""


class Unreachable(Exception):
    """The server did not answer (after retries)."""


class Fetcher:
    """HTTP GETs with a timeout, retries with exponential backoff (tenacity) on transport
    errors and 5xx answers, and a cap on the body's size."""

    def __init__(self, timeout: float, retries: int, max_bytes: int):
        import httpx

        self.max_bytes = max_bytes
        self.retries = retries
        self.client = httpx.Client(
            timeout=timeout, follow_redirects=True, headers={"User-Agent": "ms-nowcast feed"}
        )

    def get(self, url: str, max_bytes: int | None = None) -> bytes:
        import httpx
        from tenacity import (
            retry,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential,
        )

        cap = max_bytes or self.max_bytes

        @retry(
            retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )
        def once() -> bytes:
            with self.client.stream("GET", url) as response:
                if response.status_code >= 500:
                    raise _ServerError(f"{response.status_code} from {url}")
                response.raise_for_status()
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise Refused(f"{declared} bytes, more than the cap of {cap}")
                parts, total = [], 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > cap:
                        raise Refused(f"more than the cap of {cap} bytes")
                    parts.append(chunk)
                return b"".join(parts)

        try:
            return once()
        except (httpx.TransportError, _ServerError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        except httpx.HTTPStatusError as exc:
            raise Unreachable(f"{exc.response.status_code} from {url}") from None

    def close(self) -> None:
        self.client.close()


class _ServerError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# the feed state: frames, refusals, submitted nowcasts, poll record, the poller lock


class FeedState(Protocol):
    def lock(self, ttl: float) -> Iterator[bool]: ...
    def add_frame(self, name: str, when: datetime, data: bytes, digest: str) -> None: ...
    def frames(self) -> list[tuple[datetime, str]]: ...
    def frame(self, name: str) -> bytes | None: ...
    def owner(self, digest: str) -> str | None: ...
    def refusal(self, name: str) -> str | None: ...
    def refuse(self, name: str, fingerprint: str, reason: str) -> None: ...
    def add_job(self, when: datetime, job_id: str) -> None: ...
    def jobs(self) -> list[tuple[datetime, str]]: ...
    def prune(self, before: datetime) -> None: ...
    def record(self, **fields) -> None: ...
    def incr(self, counter: str) -> None: ...
    def info(self) -> dict: ...


def _ts(when: datetime) -> float:
    return when.timestamp()


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


class RedisFeedState:
    """The feed state in the deployment's Redis (every gateway process sees the same)::

    feed:frames   hash name -> bytes        feed:times   zset name -> UTC epoch
    feed:digests  hash sha256 -> name       feed:refused hash name -> {fingerprint, reason}
    feed:jobs     zset job id -> UTC epoch  feed:info    hash (last poll, errors, counters)
    feed:lock     the poller lock (redis-py Lock)
    """

    def __init__(self, redis, prefix: str):
        self.redis = redis
        self.key = lambda name: f"{prefix}feed:{name}"

    @contextmanager
    def lock(self, ttl: float) -> Iterator[bool]:
        lock = self.redis.lock(self.key("lock"), timeout=ttl, blocking=False, thread_local=False)
        held = lock.acquire()
        try:
            yield held
        finally:
            if held:
                try:
                    lock.release()
                except Exception:  # noqa: BLE001 - expired: it is free anyway
                    pass

    def add_frame(self, name, when, data, digest):
        pipe = self.redis.pipeline()
        pipe.hset(self.key("frames"), name, data)
        pipe.zadd(self.key("times"), {name: _ts(when)})
        pipe.hset(self.key("digests"), digest, name)
        pipe.execute()

    def frames(self):
        rows = self.redis.zrange(self.key("times"), 0, -1, withscores=True)
        return [(_dt(score), name.decode()) for name, score in rows]

    def frame(self, name):
        return self.redis.hget(self.key("frames"), name)

    def owner(self, digest):
        name = self.redis.hget(self.key("digests"), digest)
        return name.decode() if name else None

    def refusal(self, name):
        raw = self.redis.hget(self.key("refused"), name)
        return json.loads(raw)["fingerprint"] if raw else None

    def refuse(self, name, fingerprint, reason):
        value = json.dumps({"fingerprint": fingerprint, "reason": reason})
        self.redis.hset(self.key("refused"), name, value)

    def add_job(self, when, job_id):
        self.redis.zadd(self.key("jobs"), {job_id: _ts(when)})

    def jobs(self):
        rows = self.redis.zrange(self.key("jobs"), 0, -1, withscores=True)
        return [(_dt(score), jid.decode()) for jid, score in rows]

    def prune(self, before):
        old = [n.decode() for n in self.redis.zrangebyscore(self.key("times"), 0, _ts(before))]
        pipe = self.redis.pipeline()
        if old:
            pipe.hdel(self.key("frames"), *old)
            pipe.zrem(self.key("times"), *old)
            digests = self.redis.hgetall(self.key("digests"))
            gone = [d for d, n in digests.items() if n.decode() in old]
            if gone:
                pipe.hdel(self.key("digests"), *gone)
        pipe.zremrangebyscore(self.key("jobs"), 0, _ts(before))
        pipe.execute()
        refused = self.redis.hkeys(self.key("refused"))
        if len(refused) > 100:  # refusals are few; bound them anyway
            self.redis.hdel(self.key("refused"), *refused[:-100])

    def record(self, **fields):
        self.redis.hset(self.key("info"), mapping={k: json.dumps(v) for k, v in fields.items()})

    def incr(self, counter):
        self.redis.hincrby(self.key("info"), f"n_{counter}", 1)

    def info(self):
        raw = self.redis.hgetall(self.key("info"))
        return {k.decode(): json.loads(v) for k, v in raw.items()}


class MemoryFeedState:
    """The feed state of the embedded mode (one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._poller = threading.Lock()
        self._frames: dict[str, tuple[datetime, bytes, str]] = {}
        self._refused: dict[str, str] = {}
        self._jobs: dict[str, datetime] = {}
        self._info: dict = {}

    @contextmanager
    def lock(self, ttl):
        held = self._poller.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                self._poller.release()

    def add_frame(self, name, when, data, digest):
        with self._lock:
            self._frames[name] = (when, data, digest)

    def frames(self):
        with self._lock:
            return sorted((when, name) for name, (when, _, _) in self._frames.items())

    def frame(self, name):
        with self._lock:
            entry = self._frames.get(name)
            return entry[1] if entry else None

    def owner(self, digest):
        with self._lock:
            return next((n for n, (_, _, d) in self._frames.items() if d == digest), None)

    def refusal(self, name):
        with self._lock:
            return self._refused.get(name)

    def refuse(self, name, fingerprint, reason):
        with self._lock:
            self._refused[name] = fingerprint
            while len(self._refused) > 100:
                self._refused.pop(next(iter(self._refused)))

    def add_job(self, when, job_id):
        with self._lock:
            self._jobs[job_id] = when

    def jobs(self):
        with self._lock:
            return sorted((when, jid) for jid, when in self._jobs.items())

    def prune(self, before):
        with self._lock:
            for name in [n for n, (w, _, _) in self._frames.items() if w <= before]:
                del self._frames[name]
            for jid in [j for j, w in self._jobs.items() if w <= before]:
                del self._jobs[jid]

    def record(self, **fields):
        with self._lock:
            self._info.update(fields)

    def incr(self, counter):
        with self._lock:
            self._info[f"n_{counter}"] = self._info.get(f"n_{counter}", 0) + 1

    def info(self):
        with self._lock:
            return dict(self._info)


# --------------------------------------------------------------------------------------------
# the feed


class Feed:
    """The poller (a daemon thread in each gateway process; the lock lets one poll at a time)
    and the freshness of what it keeps. ``state`` is the app state: settings, store, runner
    and catalog, the same objects ``POST /nowcast`` uses."""

    def __init__(self, settings: FeedSettings, app_state, feed_state: FeedState, clock: Clock):
        self.settings = settings
        self.app = app_state
        self.state = feed_state
        self.clock = clock
        self.cadence = timedelta(minutes=settings.cadence_minutes)
        self.fetcher = Fetcher(
            settings.timeout_seconds, settings.retries, int(settings.max_frame_mb * 2**20)
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the loop

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nowcast-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.fetcher.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.state.lock(self._lock_seconds()) as held:
                    if held:
                        self.poll_once()
            except Exception as exc:  # noqa: BLE001 - the loop outlives any one poll
                log.exception("feed poll failed")
                try:
                    self.state.record(last_error=f"{type(exc).__name__}: {exc}")
                except Exception:  # noqa: BLE001 - the store itself is away
                    pass
            if self.clock.sleep(self.next_wait(), self._stop):
                return

    def _lock_seconds(self) -> float:
        """Longer than one poll can take: the listing and t_in + 1 downloads, all retried."""
        s = self.settings
        return (self.t_in + 2) * s.retries * (s.timeout_seconds + 8) + 30

    def next_wait(self) -> float:
        """Seconds to the next tick, or to the next recheck while the next frame is due."""
        s = self.settings
        now = self.clock.now().timestamp()
        tick = s.interval_seconds - (now - s.offset_seconds) % s.interval_seconds
        frames = self.state.frames()
        due = not frames or self.clock.now() >= frames[-1][0] + self.cadence
        return min(tick, s.recheck_seconds) if due else tick

    # ---- one poll

    @property
    def model(self):
        return self.app.catalog.get(self.settings.model)

    @property
    def t_in(self) -> int:
        model = self.model
        return model.t_in if model else 4

    def poll_once(self) -> None:
        """List, fetch what is new, keep it, start a nowcast if one can start."""
        s = self.settings
        started = self.clock.now()
        self.state.incr("listings")
        try:
            html = self.fetcher.get(s.url, max_bytes=8 * 2**20).decode("utf-8", "replace")
        except (Unreachable, Refused) as exc:
            self.state.incr("poll_errors")
            self.state.record(last_poll=iso(started), last_error=f"feed unreachable: {exc}")
            return
        entries = parse_listing(html, s.url, s.pattern, s.time_format)
        if entries:
            # only frames that can still feed a nowcast at the newest listed time
            first = entries[-1].time - (self.t_in - 1) * self.cadence
            for entry in (e for e in entries if e.time >= first):
                self._consider(entry)
        self.state.prune(self.clock.now() - timedelta(hours=s.keep_hours))
        self.state.record(last_poll=iso(started), last_ok=iso(started), last_error=None)
        self._maybe_nowcast()

    def _consider(self, entry: Entry) -> None:
        held = {name for _, name in self.state.frames()}
        if entry.name in held or self.state.refusal(entry.name) == entry.fingerprint:
            return
        try:
            data = self.fetcher.get(entry.url)
            self.state.incr("downloads")
            digest = self._check(entry, data)
        except Refused as exc:
            reason = f"{entry.name} refused: {exc}"
            log.warning("feed: %s", reason)
            self.state.incr("refused")
            self.state.refuse(entry.name, entry.fingerprint, str(exc))
            self.state.record(last_refusal=reason)
            return
        except Unreachable as exc:  # listed but not served: try again at the next poll
            self.state.incr("poll_errors")
            self.state.record(last_error=f"feed unreachable: {exc}")
            return
        self.state.add_frame(entry.name, entry.time, data, digest)
        self.state.record(newest_download=iso(self.clock.now()))
        log.info("feed: frame %s (%d bytes)", entry.name, len(data))

    def _check(self, entry: Entry, data: bytes) -> str:
        """The frame's digest, if it is whole, new and what its name says; else Refused."""
        from radar.exceptions import RadarError
        from radar.sequence import read_sequence
        from radar.sources import Blob

        if entry.size is not None and len(data) != entry.size:
            raise Refused(f"{len(data)} bytes, the listing says {entry.size} (truncated?)")
        digest = hashlib.sha256(data).hexdigest()
        owner = self.state.owner(digest)
        if owner is not None:
            raise Refused(f"duplicate of {owner}")
        try:
            frame = read_sequence([Blob(entry.name, data)])
        except RadarError as exc:
            raise Refused(f"not a readable frame ({exc})") from None
        times = [t.to_pydatetime().replace(tzinfo=UTC) for t in frame.indexes["time"]]
        if times != [entry.time]:
            raise Refused(f"its header says {[iso(t) for t in times]}, its name {iso(entry.time)}")
        return digest

    def _maybe_nowcast(self) -> None:
        """Submit the nowcast of the newest frame once its t_in frames are all there."""
        from service.submission import submit
        from service.validation import check_sequence, frame_infos

        frames = self.state.frames()
        model = self.model
        if not frames or model is None:
            return
        newest = frames[-1][0]
        if any(when == newest for when, _ in self.state.jobs()):
            return
        held = dict(frames)
        wanted = [newest - k * self.cadence for k in range(model.t_in - 1, -1, -1)]
        if not all(when in held for when in wanted):
            return  # a gap: freshness() reports it; the next complete window nowcasts
        files = [(held[when], self.state.frame(held[when])) for when in wanted]
        if any(data is None for _, data in files):
            return  # pruned meanwhile by another process
        settings = self.app.settings
        try:
            job, _ = submit(
                self.app.store,
                self.app.runner,
                files,
                model,
                self.settings.steps or model.t_out,
                lambda: check_sequence(frame_infos(files), model),
                settings.stale_after_seconds,
            )
        except Exception as exc:  # recorded as "nowcast failed"; the loop goes on
            log.exception("feed: nowcast of %s could not start", iso(newest))
            self.state.record(last_nowcast_error=f"{iso(newest)}: {exc}")
            return
        self.state.add_job(newest, job["id"])
        self.state.record(newest_submitted=iso(self.clock.now()))

    # ---- what clients see

    def latest(self) -> tuple[datetime, dict] | None:
        """The newest nowcast that succeeded and whose result is kept: (reference time, job)."""
        for when, jid in reversed(self.state.jobs()):
            job = self.app.store.get(jid)
            if job and job["status"] == "succeeded" and self.app.store.has_result(jid):
                return when, job
        return None

    def newest_frame(self) -> tuple[datetime, str] | None:
        frames = self.state.frames()
        return frames[-1] if frames else None

    def freshness(self) -> dict:
        """Ages (seconds) of the newest frame and nowcast, stale or not, and why (UTC)."""
        s = self.settings
        now = self.clock.now()
        limit = timedelta(minutes=s.stale_minutes)
        info = self.state.info()
        frame = self.newest_frame()
        latest = self.latest()
        frame_age = (now - frame[0]).total_seconds() if frame else None
        nowcast_age = (now - latest[0]).total_seconds() if latest else None
        missing, waiting = self._gaps(now)
        reason = None
        limit_s = limit.total_seconds()
        if latest is None or nowcast_age > limit_s or frame_age > limit_s:
            reason = self._why(info, frame, latest, missing, waiting)
        return {
            "enabled": True,
            "url": s.url,
            "now": iso(now),
            "stale": reason is not None,
            "reason": reason,
            "newest_frame_time": iso(frame[0]) if frame else None,
            "newest_frame_age_seconds": frame_age,
            "newest_nowcast_time": iso(latest[0]) if latest else None,
            "newest_nowcast_age_seconds": nowcast_age,
            "newest_nowcast_job": latest[1]["id"] if latest else None,
            "missing_frames": [iso(t) for t in missing],
            "waiting_for_frames": [iso(t) for t in waiting],
            "frames_kept": len(self.state.frames()),
            "last_poll": info.get("last_poll"),
            "last_ok_poll": info.get("last_ok"),
            "last_error": info.get("last_error"),
            "last_refusal": info.get("last_refusal"),
            "counters": {k[2:]: v for k, v in info.items() if k.startswith("n_")},
            "times": "UTC",
        }

    def _gaps(self, now: datetime) -> tuple[list[datetime], list[datetime]]:
        """Frames absent among the last t_in before the newest: reported missing once they are
        ``gap_wait_minutes`` past their nominal time, waited for until then."""
        frames = self.state.frames()
        if not frames:
            return [], []
        held = {when for when, _ in frames}
        newest = frames[-1][0]
        absent = [
            newest - k * self.cadence
            for k in range(self.t_in - 1, 0, -1)
            if newest - k * self.cadence not in held
        ]
        wait = timedelta(minutes=self.settings.gap_wait_minutes)
        return [t for t in absent if now - t > wait], [t for t in absent if now - t <= wait]

    def _why(self, info, frame, latest, missing, waiting) -> str:
        if info.get("last_error"):
            return f"{info['last_error']} (last successful poll {info.get('last_ok') or 'never'})"
        for when, jid in reversed(self.state.jobs()):
            if latest and when <= latest[0]:
                break
            job = self.app.store.get(jid) or {}
            if job.get("status") == "failed":
                return f"nowcast failed: {iso(when)}: {job.get('error')}"
        if info.get("last_nowcast_error"):
            return f"nowcast failed: {info['last_nowcast_error']}"
        if frame is None:
            return "no frame yet"
        if missing:
            return (
                f"frame missing: {', '.join(iso(t) for t in missing)}; the next nowcast needs "
                f"{self.t_in} consecutive frames"
            )
        expected = frame[0] + self.cadence
        if self.clock.now() - frame[0] > timedelta(minutes=self.settings.stale_minutes):
            return f"frame missing: no frame since {iso(frame[0])} (expected {iso(expected)})"
        if waiting:
            return f"waiting for frames {', '.join(iso(t) for t in waiting)}"
        return "no nowcast ready yet"


def open_feed(app_state, clock: Clock | None = None) -> Feed | None:
    """The feed of this gateway process when ``NOWCAST_FEED_URL`` is set, started; else None."""
    settings = FeedSettings()
    if not settings.url:
        return None
    redis = getattr(app_state.store, "redis", None)
    feed_state = (
        RedisFeedState(redis, app_state.settings.key_prefix) if redis else MemoryFeedState()
    )
    feed = Feed(settings, app_state, feed_state, clock or CLOCK)
    feed.start()
    log.info("feed on: %s every %g s", settings.url, settings.interval_seconds)
    return feed
