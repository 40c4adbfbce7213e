"""Service fixtures: a model folder, the embedded app, and a real Redis + Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
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


@pytest.fixture(scope="session")
def celery_env(redis_url: str, model_dir: Path):
    """A real Celery worker process on a private queue and key prefix, stopped at the end."""
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "NOWCAST_REDIS_URL": redis_url,
        "NOWCAST_MODEL_DIR": str(model_dir),
        "NOWCAST_KEY_PREFIX": f"nowcast-test-{tag}:",
        "NOWCAST_INFERENCE_QUEUE": f"inference-test-{tag}",
        "NOWCAST_DEVICE": "cpu",
    }
    log = open(model_dir / f"worker-{tag}.log", "w")  # noqa: SIM115 - closed at teardown
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
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    settings = Settings(
        redis_url=redis_url,
        model_dir=model_dir,
        key_prefix=env["NOWCAST_KEY_PREFIX"],
        inference_queue=env["NOWCAST_INFERENCE_QUEUE"],
        device="cpu",
    )
    from workers.seam import CeleryRunner

    runner = CeleryRunner(settings)
    deadline = time.monotonic() + 60
    while not runner.workers_alive():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            tail = (model_dir / f"worker-{tag}.log").read_text()[-2000:]
            pytest.fail(f"Celery worker did not start: {tail}")
        time.sleep(0.5)
    yield settings
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    import redis

    r = redis.Redis.from_url(redis_url)
    for key in r.scan_iter(f"{settings.key_prefix}*"):
        r.delete(key)


@pytest.fixture()
def redis_client(celery_env):
    with TestClient(create_app(celery_env)) as c:
        yield c
