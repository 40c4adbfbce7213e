"""Service fixtures: a model folder, the embedded app, and a real Redis + Celery worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from tests.onnx_fixtures import persistence_model
from workers.seam import Settings

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("NOWCAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("models")
    persistence_model(
        folder / "persistence.onnx", t_in=4, t_out=6, stride=4, name="test-persistence", scale=0.95
    )
    return folder


def make_client(model_dir: Path, **overrides) -> TestClient:
    settings = Settings(redis_url=None, model_dir=model_dir, **overrides)
    return TestClient(create_app(settings))


@pytest.fixture()
def client(model_dir: Path):
    with make_client(model_dir) as c:
        yield c


def wait_for(client: TestClient, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def upload(paths) -> list:
    return [("frames", (Path(p).name, Path(p).read_bytes())) for p in paths]


@pytest.fixture(scope="session")
def redis_url() -> str:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}); .ci/run starts one")
    return REDIS_URL


def worker_settings(redis_url: str, model_dir: Path, **overrides) -> Settings:
    """Settings on a private key prefix and queue, so tests never meet each other's jobs."""
    tag = uuid.uuid4().hex[:8]
    fields = {
        "redis_url": redis_url,
        "model_dir": model_dir,
        "key_prefix": f"nowcast-test-{tag}:",
        "inference_queue": f"inference-test-{tag}",
        "device": "cpu",
        **overrides,
    }
    return Settings(**fields)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a worker process needs to run with ``settings``."""
    env = {**os.environ, "NOWCAST_REDIS_URL": settings.redis_url}
    for name, value in settings.model_dump(exclude={"redis_url"}, exclude_none=True).items():
        env[f"NOWCAST_{name.upper()}"] = str(value)
    return env


@contextmanager
def worker_process(settings: Settings, *args: str):
    """A real ``nowcast worker`` process (prefork, one child) for ``settings``; yields the
    Popen once the worker answers pings, stops it at the end (SIGKILL if it hangs)."""
    tag = uuid.uuid4().hex[:8]
    log_path = Path(settings.model_dir) / f"worker-{tag}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nowcast",
                "worker",
                "-n",
                f"test-{tag}@%h",
                "--loglevel",
                "warning",
                *args,
            ],
            cwd=REPO,
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a test may kill it whole
        )
        from workers.seam import CeleryRunner

        runner = CeleryRunner(settings)
        deadline = time.monotonic() + 60
        while not runner.workers_alive():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"Celery worker did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def drop_keys(settings: Settings) -> None:
    import redis

    r = redis.Redis.from_url(settings.redis_url)
    for key in r.scan_iter(f"{settings.key_prefix}*"):
        r.delete(key)


@pytest.fixture(scope="session")
def celery_env(redis_url: str, model_dir: Path):
    """A real Celery worker process on a private queue and key prefix, stopped at the end."""
    settings = worker_settings(redis_url, model_dir)
    with worker_process(settings):
        yield settings
    drop_keys(settings)


@pytest.fixture()
def redis_client(celery_env):
    with TestClient(create_app(celery_env)) as c:
        yield c
