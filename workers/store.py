"""workers.store: job records, their input frames and results, in Redis or in memory.

Both the gateway (create, read) and the workers (inputs, progress, result) use this; it needs
only redis-py, so neither side imports more than it must. Keys (with the configured prefix)::

    job:{id}      hash of the job record (JSON values), TTL = job TTL
    input:{id}    hash  "k:name" -> raw bytes of the k-th uploaded file, deleted when the job
                  ends (either way), TTL = job TTL
    result:{id}   the result NetCDF bytes, TTL = result TTL
    lock:{id}     the run lock: held by the one process running the job, renewed while it runs
    stats         hash of counters (submitted, computations, cache_hits, failures)

Job ids are content hashes (:func:`workers.seam.job_id`), so the same request maps to the same
job. A job is written in one step (record, inputs and their TTLs, a Lua script), so no reader
ever sees half a job; it is started again only by compare-and-set on the record it replaces,
so of two identical requests exactly one enqueues it. The gateway reaches this module through
:mod:`workers.seam`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

#: Record fields that identify one incarnation of a job: a replace must name the one it read.
_INCARNATION = ("status", "created")

# KEYS: job, input, result; ARGV: job TTL, n fields, field, value, ..., then input field, value...
# With ARGV[3] == "replace", ARGV[4..5] are the expected status and created of the old record.
_WRITE_JOB = """
local job, inp, res = KEYS[1], KEYS[2], KEYS[3]
local ttl, mode, i = tonumber(ARGV[1]), ARGV[2], 3
if mode == 'create' then
  if redis.call('EXISTS', job) == 1 then return 0 end
else
  local cur = redis.call('HMGET', job, 'status', 'created')
  if cur[1] ~= ARGV[3] or cur[2] ~= ARGV[4] then return 0 end
  i = 5
end
redis.call('DEL', job, inp, res)
local n = tonumber(ARGV[i]); i = i + 1
for k = 1, n do redis.call('HSET', job, ARGV[i], ARGV[i + 1]); i = i + 2 end
redis.call('EXPIRE', job, ttl)
if i <= #ARGV then
  while i <= #ARGV do redis.call('HSET', inp, ARGV[i], ARGV[i + 1]); i = i + 2 end
  redis.call('EXPIRE', inp, ttl)
end
return 1
"""


class JobStore(Protocol):
    """What the gateway and the job function use; :class:`RedisJobStore` and
    :class:`MemoryJobStore` implement it."""

    def create(self, job: dict, inputs: list[tuple[str, bytes]]) -> bool: ...
    def replace(self, job: dict, inputs: list[tuple[str, bytes]], old: dict) -> bool: ...
    def get(self, job_id: str) -> dict | None: ...
    def update(self, job_id: str, **fields) -> None: ...
    def start_attempt(self, job_id: str) -> int: ...
    def run_lock(self, job_id: str, ttl: float) -> Iterator[bool]: ...
    def inputs(self, job_id: str) -> list[tuple[str, bytes]]: ...
    def drop_inputs(self, job_id: str) -> None: ...
    def set_result(self, job_id: str, data: bytes) -> None: ...
    def result(self, job_id: str) -> bytes | None: ...
    def has_result(self, job_id: str) -> bool: ...
    def incr(self, counter: str, amount: int = 1) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def ping(self) -> bool: ...


@contextmanager
def _renewing(renew, ttl: float) -> Iterator[None]:
    """Call ``renew`` every ttl/3 seconds in a daemon thread while the caller's block runs, so
    a lock outlives a long job but expires soon after its holder dies."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(ttl / 3):
            try:
                renew()
            except Exception:  # noqa: BLE001 - a missed renewal is retried ttl/3 later
                pass

    thread = threading.Thread(target=loop, name="run-lock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


class RedisJobStore:
    """The job store of a deployment: every gateway and worker process shares it.

    The client retries a command with exponential backoff when the connection fails (a Redis
    restart or failover of a few seconds passes unnoticed); a longer outage raises redis-py's
    ``ConnectionError``, which the gateway answers with 503 and the task with a retry.
    """

    def __init__(
        self, url: str, prefix: str = "nowcast:", job_ttl: int = 86400, result_ttl: int = 21600
    ):
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self.redis = redis.Redis.from_url(
            url,
            socket_timeout=10,
            socket_connect_timeout=2,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=4),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )
        self.prefix = prefix
        self.job_ttl = job_ttl
        self.result_ttl = result_ttl
        self._write = self.redis.register_script(_WRITE_JOB)

    def _key(self, kind: str, job_id: str = "") -> str:
        return f"{self.prefix}{kind}:{job_id}" if job_id else f"{self.prefix}{kind}"

    def _write_job(self, job: dict, inputs: list[tuple[str, bytes]], expect: list) -> bool:
        jid = job["id"]
        args: list = [self.job_ttl, "replace" if expect else "create", *expect, len(job)]
        for k, v in job.items():
            args += [k, json.dumps(v)]
        for k, (name, data) in enumerate(inputs):
            args += [f"{k}:{name}", data]
        keys = [self._key("job", jid), self._key("input", jid), self._key("result", jid)]
        return bool(self._write(keys=keys, args=args))

    def create(self, job: dict, inputs: list[tuple[str, bytes]]) -> bool:
        """Store a new job and its inputs in one step; False (nothing written) if it exists."""
        return self._write_job(job, inputs, [])

    def replace(self, job: dict, inputs: list[tuple[str, bytes]], old: dict) -> bool:
        """Start a job again under its id, if its record is still ``old`` (the one the caller
        read: same status and creation time); False if another request replaced it first."""
        return self._write_job(job, inputs, [json.dumps(old.get(f)) for f in _INCARNATION])

    def get(self, job_id: str) -> dict | None:
        raw = self.redis.hgetall(self._key("job", job_id))
        return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else None

    def update(self, job_id: str, **fields) -> None:
        key = self._key("job", job_id)
        if self.redis.exists(key):
            self.redis.hset(key, mapping={k: json.dumps(v) for k, v in fields.items()})

    def start_attempt(self, job_id: str) -> int:
        """Count one more start of the job; returns how many runs have started."""
        return int(self.redis.hincrby(self._key("job", job_id), "attempts", 1))

    @contextmanager
    def run_lock(self, job_id: str, ttl: float) -> Iterator[bool]:
        """Hold the job's run lock while the block runs (yields False if another live process
        holds it after waiting ``ttl``: a dead holder's lock has expired by then)."""
        lock = self.redis.lock(
            self._key("lock", job_id), timeout=ttl, blocking_timeout=ttl + 1, thread_local=False
        )
        if not lock.acquire(token=uuid.uuid4().hex):
            yield False
            return
        try:
            with _renewing(lock.reacquire, ttl):
                yield True
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - expired or Redis gone: it expires by itself
                pass

    def inputs(self, job_id: str) -> list[tuple[str, bytes]]:
        raw = self.redis.hgetall(self._key("input", job_id))
        items = sorted(
            ((int(k.split(b":", 1)[0]), k.split(b":", 1)[1].decode(), v) for k, v in raw.items())
        )
        return [(name, data) for _, name, data in items]

    def drop_inputs(self, job_id: str) -> None:
        self.redis.delete(self._key("input", job_id))

    def set_result(self, job_id: str, data: bytes) -> None:
        self.redis.set(self._key("result", job_id), data, ex=self.result_ttl)

    def result(self, job_id: str) -> bytes | None:
        return self.redis.get(self._key("result", job_id))

    def has_result(self, job_id: str) -> bool:
        return bool(self.redis.exists(self._key("result", job_id)))

    def incr(self, counter: str, amount: int = 1) -> None:
        self.redis.hincrby(self._key("stats"), counter, amount)

    def stats(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(self._key("stats")).items()}

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:  # any connection problem means "not ready"
            return False


class MemoryJobStore:
    """The embedded default: one process, jobs and results in memory, expired by TTL."""

    def __init__(self, job_ttl: int = 86400, result_ttl: int = 21600):
        self.job_ttl = job_ttl
        self.result_ttl = result_ttl
        self._jobs: dict[str, tuple[float, dict]] = {}
        self._inputs: dict[str, list[tuple[str, bytes]]] = {}
        self._results: dict[str, tuple[float, bytes]] = {}
        self._stats: dict[str, int] = {}
        self._run_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = time.monotonic()
        for store in (self._jobs, self._results):
            for key in [k for k, (until, _) in store.items() if until < now]:
                del store[key]
                self._inputs.pop(key, None)

    def create(self, job: dict, inputs: list[tuple[str, bytes]]) -> bool:
        with self._lock:
            self._expire()
            if job["id"] in self._jobs:
                return False
            self._jobs[job["id"]] = (time.monotonic() + self.job_ttl, dict(job))
            self._inputs[job["id"]] = list(inputs)
            return True

    def replace(self, job: dict, inputs: list[tuple[str, bytes]], old: dict) -> bool:
        with self._lock:
            entry = self._jobs.get(job["id"])
            if entry is None or any(entry[1].get(f) != old.get(f) for f in _INCARNATION):
                return False
            self._jobs[job["id"]] = (time.monotonic() + self.job_ttl, dict(job))
            self._inputs[job["id"]] = list(inputs)
            self._results.pop(job["id"], None)
            return True

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            self._expire()
            entry = self._jobs.get(job_id)
            return dict(entry[1]) if entry else None

    def update(self, job_id: str, **fields) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id][1].update(fields)

    def start_attempt(self, job_id: str) -> int:
        with self._lock:
            entry = self._jobs.get(job_id)
            if entry is None:
                return 1
            entry[1]["attempts"] = entry[1].get("attempts", 0) + 1
            return entry[1]["attempts"]

    @contextmanager
    def run_lock(self, job_id: str, ttl: float) -> Iterator[bool]:
        with self._lock:
            lock = self._run_locks.setdefault(job_id, threading.Lock())
        if not lock.acquire(timeout=ttl + 1):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def inputs(self, job_id: str) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self._inputs.get(job_id, []))

    def drop_inputs(self, job_id: str) -> None:
        with self._lock:
            self._inputs.pop(job_id, None)

    def set_result(self, job_id: str, data: bytes) -> None:
        with self._lock:
            self._results[job_id] = (time.monotonic() + self.result_ttl, data)

    def result(self, job_id: str) -> bytes | None:
        with self._lock:
            self._expire()
            entry = self._results.get(job_id)
            return entry[1] if entry else None

    def has_result(self, job_id: str) -> bool:
        return self.result(job_id) is not None

    def incr(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self._stats[counter] = self._stats.get(counter, 0) + amount

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def ping(self) -> bool:
        return True
