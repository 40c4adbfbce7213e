"""The live DWD feed against a local server laid out and listed like DWD's open-data server.

Real RY frames (2020-01-01 15:00-16:00 UTC) are "published" one by one into
``weather/radar/radolan/ry/`` as ``raa01-ry_10000-YYMMDDHHMM-dwd---bin.bz2`` (bz2, as DWD
serves them), each two minutes after its nominal time. The feed runs with its production
settings on a clock 60x faster than real time (5 minutes pass in 5 s), starting on
2020-01-01, so ages and stale limits are those of production.
"""

from __future__ import annotations

import bz2
import gzip
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import feed as feed_module
from service.main import create_app
from tests.service.conftest import make_client

FOLDER = "weather/radar/radolan/ry/"
SPEED = 60.0
T0 = datetime(2020, 1, 1, 15, 0, tzinfo=UTC)

pytestmark = pytest.mark.timeout(400)


class FastClock(feed_module.Clock):
    """Feed time runs ``speed`` times faster than the wall clock, from ``start``."""

    def __init__(self, start: datetime, speed: float):
        self.start, self.speed, self.wall = start, speed, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.wall) * self.speed)

    def sleep(self, seconds, stop):
        return stop.wait(max(seconds, 0.0) / self.speed)

    def until(self, when: datetime) -> None:
        time.sleep(max((when - self.now()).total_seconds(), 0.0) / self.speed)


class DwdServer:
    """A folder served on 127.0.0.1 with nginx-style directory indexes, as opendata.dwd.de
    lists them; counts the GETs of every file. Stop and start it again on the same port."""

    def __init__(self, root: Path):
        self.root = root
        self.gets: Counter[str] = Counter()
        self.port = 0
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{FOLDER}"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = owner.root / self.path.lstrip("/")
                if path.is_dir():
                    body = owner.listing(path, self.path).encode()
                    kind = "text/html"
                elif path.is_file():
                    owner.gets[path.name] += 1
                    body, kind = path.read_bytes(), "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def listing(folder: Path, url_path: str) -> str:
        rows = ['<a href="../">../</a>']
        for path in sorted(folder.iterdir()):
            stat = path.stat()
            modified = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%d-%b-%Y %H:%M")
            rows.append(
                f'<a href="{path.name}">{path.name}</a>'.ljust(80)
                + f"{modified} {stat.st_size:>19}"
            )
        title = f"Index of {url_path}"
        return (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<h1>{title}</h1><hr>"
            f"<pre>{chr(10).join(rows)}\n</pre><hr></body>\r\n</html>\r\n"
        )


def dwd_name(when: datetime) -> str:
    return f"raa01-ry_10000-{when:%y%m%d%H%M}-dwd---bin.bz2"


class Publisher:
    """Puts real RY frames into the served folder (atomically, as a finished upload)."""

    def __init__(self, dwd_dir: Path, root: Path):
        self.source = dwd_dir / "radolan_to_netcdf" / "radolan_ry"
        self.folder = root / FOLDER
        self.folder.mkdir(parents=True)
        self.published: dict[datetime, float] = {}

    def frame_bytes(self, when: datetime) -> bytes:
        name = f"raa01-ry_10000-{when:%y%m%d%H%M}-dwd---bin.gz"
        return bz2.compress(gzip.decompress((self.source / name).read_bytes()))

    def publish(self, when: datetime, data: bytes | None = None) -> None:
        data = self.frame_bytes(when) if data is None else data
        tmp = self.folder / f".{dwd_name(when)}.part"
        tmp.write_bytes(data)
        tmp.rename(self.folder / dwd_name(when))
        self.published[when] = time.monotonic()


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def status(client: TestClient) -> dict:
    return client.get("/feed").json()


def nowcast_at(client: TestClient, when: datetime) -> bool:
    return status(client)["newest_nowcast_time"] == feed_module.iso(when)


@pytest.fixture()
def dwd(tmp_path, dwd_dir):
    publisher = Publisher(dwd_dir, tmp_path / "www")
    server = DwdServer(tmp_path / "www")
    yield server, publisher
    server.stop()


def feed_env(monkeypatch, url: str, start: datetime) -> FastClock:
    monkeypatch.setenv("NOWCAST_FEED_URL", url)
    clock = FastClock(start, SPEED)
    monkeypatch.setattr(feed_module, "CLOCK", clock)
    return clock


def test_feed_follows_publication_refuses_bad_downloads_and_reports_staleness(
    dwd, model_dir, monkeypatch
):
    server, pub = dwd
    for k in (0, 5, 10):  # already on the server when the service starts
        pub.publish(minutes(k))
    clock = feed_env(monkeypatch, server.url, minutes(12))
    latencies = {}

    def publish_and_wait(k: int) -> None:
        clock.until(minutes(k + 2))
        pub.publish(minutes(k))
        wait(lambda: nowcast_at(client, minutes(k)), f"the nowcast of 15:{k:02d}")
        latencies[f"15:{k:02d}"] = round(time.monotonic() - pub.published[minutes(k)], 2)

    with make_client(model_dir) as client:
        assert client.get("/nowcast/latest").json()["code"] in ("stale", "no_nowcast")
        publish_and_wait(15)
        # the newest nowcast in the job views, with its reference time (UTC)
        answer = client.get("/nowcast/latest", params={"format": "json"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["forecast_reference_time"] == "2020-01-01T15:15Z"
        assert answer.headers["x-forecast-reference-time"] == "2020-01-01T15:15:00Z"
        job_id = answer.headers["x-job-id"]
        assert client.get(f"/jobs/{job_id}").json()["frames"] == 4
        point = client.get("/nowcast/latest", params={"format": "json", "lat": 50.1, "lon": 8.7})
        assert point.status_code == 200 and len(point.json()["minutely_5"]["time"]) == 6
        netcdf = client.get("/nowcast/latest")
        assert netcdf.headers["content-type"] == "application/x-netcdf"
        assert netcdf.content == client.get(f"/jobs/{job_id}/result").content
        frame = client.get("/frames/latest")
        assert frame.headers["x-frame-time"] == "2020-01-01T15:15:00Z"
        assert frame.content == pub.frame_bytes(minutes(15))
        assert client.get("/readyz").json()["checks"]["feed"] is True

        publish_and_wait(20)

        # a truncated file (listed with its truncated size: a half-written upload) is
        # refused; the whole file, once there, is taken
        clock.until(minutes(27))
        whole = pub.frame_bytes(minutes(25))
        pub.publish(minutes(25), whole[: len(whole) // 2])
        wait(lambda: status(client)["counters"].get("refused") == 1, "the truncated refusal")
        assert "1525" in status(client)["last_refusal"]
        assert not nowcast_at(client, minutes(25))
        pub.publish(minutes(25))
        wait(lambda: nowcast_at(client, minutes(25)), "the nowcast of 15:25")

        # a duplicate (the 15:25 bytes again under the 15:30 name) is refused
        clock.until(minutes(32))
        pub.publish(minutes(30), whole)
        wait(lambda: status(client)["counters"].get("refused") == 2, "the duplicate refusal")
        assert "duplicate of raa01-ry_10000-2001011525" in status(client)["last_refusal"]
        publish_and_wait(30)

        # 15:35 never comes: the service turns stale and says which frame is missing
        for k in (40, 45):
            clock.until(minutes(k + 2))
            pub.publish(minutes(k))
        ready = wait(lambda: (r := client.get("/readyz")).status_code == 503 and r.json(), "stale")
        assert "frame missing: 2020-01-01T15:35:00Z" in ready["checks"]["feed"], ready
        assert ready["feed"]["newest_nowcast_time"] == "2020-01-01T15:30:00Z"
        stale = client.get("/nowcast/latest")
        assert stale.status_code == 503 and stale.json()["code"] == "stale"
        assert "15:35" in stale.json()["detail"]
        served = client.get("/nowcast/latest", params={"allow_stale": True})
        assert served.status_code == 200 and "frame missing" in served.headers["x-stale"]
        metrics = client.get("/metrics").text
        assert "nowcast_feed_stale 1.0" in metrics
        # four consecutive frames after the gap: nowcasts again, ready again
        clock.until(minutes(52))
        pub.publish(minutes(50))
        wait(lambda: status(client)["newest_frame_time"] == "2020-01-01T15:50:00Z", "15:50")
        assert client.get("/readyz").status_code == 503  # 15:35-15:50 still lacks 15:35
        publish_and_wait(55)
        assert client.get("/readyz").status_code == 200

        # the server goes away: stale, "feed unreachable"; back: recovery
        server.stop()
        ready = wait(
            lambda: (r := client.get("/readyz")).status_code == 503 and r.json(),
            "unreachable",
        )
        assert ready["checks"]["feed"].startswith("stale: feed unreachable"), ready
        server.start()
        k = 60
        pub.publish(minutes(k))
        wait(lambda: nowcast_at(client, minutes(k)), "the nowcast of 16:00")
        latencies["16:00 (after outage)"] = round(time.monotonic() - pub.published[minutes(k)], 2)
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
        assert "nowcast_feed_stale 0.0" in metrics
        assert 'nowcast_feed_age_seconds{what="nowcast"}' in metrics
        fresh = status(client)

    # every frame was downloaded once; 15:25 and 15:30 again after their refusals
    expected = {dwd_name(minutes(k)): 1 for k in (0, 5, 10, 15, 20, 40, 45, 50, 55, 60)}
    expected |= {dwd_name(minutes(25)): 2, dwd_name(minutes(30)): 2}
    assert dict(server.gets) == expected
    assert fresh["counters"]["downloads"] == sum(expected.values())
    print("\nfeed latency, publication -> nowcast ready (wall s):", json.dumps(latencies))
    print("feed counters:", json.dumps(fresh["counters"]))


def test_two_pollers_never_download_a_frame_twice(dwd, celery_env, monkeypatch):
    """Two gateway processes (two apps, two Redis connections) follow one feed: the lock in
    Redis lets one poll at a time, and neither fetches what the other holds."""
    server, pub = dwd
    for k in range(0, 20, 5):
        pub.publish(minutes(k))
    clock = feed_env(monkeypatch, server.url, minutes(17))
    with TestClient(create_app(celery_env)) as a, TestClient(create_app(celery_env)) as b:
        wait(lambda: nowcast_at(a, minutes(15)), "the first nowcast")
        for k in (20, 25, 30):
            clock.until(minutes(k + 2))
            pub.publish(minutes(k))
            when = minutes(k)
            wait(lambda w=when: nowcast_at(a, w) and nowcast_at(b, w), f"the nowcast of {when}")
        ja = a.get("/nowcast/latest", params={"format": "json"})
        jb = b.get("/nowcast/latest", params={"format": "json"})
        assert ja.headers["x-job-id"] == jb.headers["x-job-id"]
        counters = status(a)["counters"]
    assert dict(server.gets) == {dwd_name(minutes(k)): 1 for k in range(0, 35, 5)}
    assert counters["downloads"] == 7
    assert counters["listings"] >= 2
