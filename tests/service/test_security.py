"""Who gets in, how often, and how much: API keys (hashed at rest, the `nowcast keys`
command), per-key rate limits and quotas on the real Redis, CORS, the early refusal of oversized
uploads, and a gateway that keeps answering /healthz while a 200 MB upload is processed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import numpy as np
import pandas as pd
import pytest
import redis
from fastapi.testclient import TestClient

from service.auth import resolve_api_keys
from service.main import create_app
from tests.helpers import radolan_bytes
from tests.service.conftest import REPO, drop_keys, settings_env, worker_settings

pytestmark = pytest.mark.timeout(300)


@pytest.fixture()
def keyed(redis_url: str, model_dir: Path):
    settings = worker_settings(redis_url, model_dir, api_keys="required")
    yield settings
    drop_keys(settings)


def keys_cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nowcast", "keys", *args],
        cwd=REPO,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_api_keys_are_required_hashed_and_revocable(keyed) -> None:
    with TestClient(create_app(keyed)) as client:
        for r in (client.get("/models"), client.get("/jobs/x"), client.post("/nowcast"),
                  client.get("/models", headers=bearer("nk_guess"))):  # fmt: skip
            assert r.status_code == 401 and r.json()["code"] == "unauthorized", r.text
            assert r.headers["WWW-Authenticate"] == "Bearer"
        assert client.get("/healthz").status_code == 200  # probes need no key

        made = keys_cli(keyed, "create", "alice")
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip()
        assert client.get("/models", headers=bearer(key)).status_code == 200

        stored = redis.Redis.from_url(keyed.redis_url).hgetall(f"{keyed.key_prefix}apikeys")
        assert key.encode() not in b"".join(k + v for k, v in stored.items())  # only a hash
        listed = keys_cli(keyed, "list", "--json")
        assert [r["name"] for r in json.loads(listed.stdout)] == ["alice"]
        assert key not in listed.stdout

        assert keys_cli(keyed, "revoke", "alice").returncode == 0
        assert client.get("/models", headers=bearer(key)).status_code == 401


def test_no_key_is_refused_before_the_body_is_read(keyed) -> None:
    """The app driven by hand: a POST without a key is answered 401 without one call to
    ``receive`` (FastAPI's dependencies would read and spool the whole upload first)."""
    app = create_app(keyed)
    reads, sent = 0, []

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        if reads > 10:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"host", b"x"), (b"content-length", b"50000000"),
               (b"content-type", b"multipart/form-data; boundary=b")]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/nowcast", "raw_path": b"/nowcast",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
    with TestClient(app):  # the lifespan builds the state (the key guard among it)
        anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 401, sent[0]
    assert reads == 0
    assert b'"code":"unauthorized"' in sent[1]["body"]


def test_over_the_rate_and_over_the_quota_is_429(keyed) -> None:
    with TestClient(create_app(keyed)) as client:
        key = keys_cli(keyed, "create", "bob", "--rate", "3/minute").stdout.strip()
        answers = [client.get("/models", headers=bearer(key)) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["code"] == "rate_limited"
        assert 0 < int(answers[-1].headers["Retry-After"]) <= 60

        key = keys_cli(keyed, "create", "carol", "--quota", "1/day").stdout.strip()
        first = client.post("/nowcast", headers=bearer(key))  # counted, even when refused
        assert first.status_code == 400
        second = client.post("/nowcast", headers=bearer(key))
        assert second.status_code == 429 and second.json()["code"] == "quota_exceeded"
        assert int(second.headers["Retry-After"]) > 3600


def test_keys_are_required_beyond_localhost() -> None:
    assert resolve_api_keys("auto", "0.0.0.0") == "required"
    assert resolve_api_keys("auto", "::") == "required"
    assert resolve_api_keys("auto", "127.0.0.1") == "off"
    assert resolve_api_keys("off", "0.0.0.0") == "off"
    proc = subprocess.run(
        [sys.executable, "-m", "nowcast", "serve", "--host", "0.0.0.0", "--port", "1"],
        cwd=REPO,
        env={k: v for k, v in settings_env(worker_settings("", ".")).items() if "REDIS" not in k}
        | {"NOWCAST_API_KEYS": "auto"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "API keys are required" in proc.stderr


def test_cors_is_closed_by_default(model_dir: Path) -> None:
    from tests.service.conftest import make_client

    origin = {"Origin": "https://maps.example.org"}
    with make_client(model_dir) as client:
        assert "access-control-allow-origin" not in client.get("/models", headers=origin).headers
    with make_client(model_dir, cors_origins=["https://maps.example.org"]) as client:
        r = client.get("/models", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://maps.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def live_gateway(redis_url: str, model_dir: Path):
    """``nowcast serve`` as its own process on Redis (no worker: jobs stay queued)."""
    settings = worker_settings(redis_url, model_dir, max_upload_mb=250, max_files=128)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nowcast", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=REPO,
        env=settings_env(settings),
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    drop_keys(settings)


def read_answer(s: socket.socket) -> str:
    """The response on a raw socket, up to its JSON body."""
    data = b""
    while b"}" not in data and (more := s.recv(4096)):
        data += more
    return data.decode()


def test_oversized_upload_is_refused_before_it_is_read(live_gateway: str) -> None:
    host, port = live_gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        # a 10 GB promise and not one byte of it: the answer comes from the header alone
        s.sendall(
            b"POST /nowcast HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        head = read_answer(s)
    assert head.startswith("HTTP/1.1 413") and '"code":"too_large"' in head

    # a chunked body with no length that passes the limit and never ends: the answer must
    # come while it streams (a gateway that waits for the end of the body never answers)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /nowcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        part = (
            b'--b\r\nContent-Disposition: form-data; name="frames"; filename="f"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
        )
        s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        chunk = b"%x\r\n%s\r\n" % (2**20, b"x" * 2**20)
        s.settimeout(2)
        try:
            for _ in range(270):  # 270 MiB, past the 251 MiB limit
                s.sendall(chunk)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass  # the gateway stopped reading: fine
        s.settimeout(10)
        head = read_answer(s)
    assert head.startswith("HTTP/1.1 413") and '"code":"too_large"' in head


SENDER = """
import pathlib, sys, httpx
files = [("frames", (p.name, p.read_bytes())) for p in sorted(pathlib.Path(sys.argv[2]).iterdir())]
r = httpx.post(sys.argv[1] + "/nowcast", files=files, timeout=120)
print(r.status_code, r.text)
"""


def test_healthz_stays_fast_during_a_200_mb_upload(live_gateway: str, tmp_path: Path) -> None:
    """125 valid 900x900 frames (200 MB): parsed on the event loop as they stream, then read,
    checked, hashed and stored in the thread pool; /healthz answers within 50 ms meanwhile.
    The upload comes from another process, so this one only measures."""
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 4095, (900, 900), dtype=np.uint16)
    for t in pd.date_range("2024-07-01T00:00", periods=125, freq="5min"):
        data = radolan_bytes("RY", raw, when=f"{t:%Y-%m-%dT%H:%M}")
        (tmp_path / f"raa01-ry-{t:%y%m%d%H%M}").write_bytes(data)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) > 200e6
    sender = subprocess.Popen(
        [sys.executable, "-c", SENDER, live_gateway, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    latencies = []
    with httpx.Client(base_url=live_gateway, timeout=5) as probe:
        while sender.poll() is None:
            start = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)
    answer = sender.stdout.read()
    assert answer.startswith("202"), answer
    assert len(latencies) > 20
    ordered = sorted(latencies)
    p95, slowest = ordered[int(0.95 * len(ordered))], ordered[-1]
    print(f"/healthz during the upload: p95 {p95 * 1000:.0f} ms, max {slowest * 1000:.0f} ms")
    # the target is 50 ms; this shared 2-core machine (load 6-9 from trainings) adds scheduler
    # stalls of up to ~150 ms to single probes even while idle, hence the bound on the maximum.
    # Work on the event loop (hashing and storing 200 MB there) stalls it for over a second.
    assert p95 < 0.05 and slowest < 0.5, f"p95 {p95 * 1000:.0f} ms, max {slowest * 1000:.0f} ms"
