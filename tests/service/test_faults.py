"""Jobs under faults, against the real Redis and real worker processes (nothing mocked): a
worker killed mid-job, a job that kills its worker every time, a stale job, concurrent
identical requests, two runs of one job, and a Redis restart (a private redis-server)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from service.main import create_app
from tests.service.conftest import drop_keys, wait_for, worker_process, worker_settings
from workers.nowcast_job import EngineCache, run_job

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def big_sequence(tmp_path_factory) -> bytes:
    """A DE1200-sized NetCDF sequence: a job of a few seconds, long enough to be killed in."""
    from radar.netcdf import write_netcdf
    from radar.synthetic import synthetic_sequence

    return write_netcdf(synthetic_sequence(frames=4, height=1200, width=1100, seed=3))


def post(client: TestClient, data: bytes, steps: int = 6):
    r = client.post("/nowcast", files=[("frames", ("seq.nc", data))], data={"steps": str(steps)})
    assert r.status_code in (200, 202), r.text
    return r.json()


def wait_running(client: TestClient, job_id: str, not_on: set[str], timeout: float = 60) -> str:
    """Wait until the job runs in a process not in ``not_on``; returns its ``host:pid``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        where = job.get("worker") or client.app.state.store.get(job_id).get("worker")
        if job["status"] == "running" and where and where not in not_on:
            return where
        assert job["status"] != "succeeded", "the job ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never ran in a new process")


def kill(where: str) -> None:
    os.kill(int(where.rsplit(":", 1)[1]), signal.SIGKILL)


@pytest.fixture()
def fault_env(redis_url: str, model_dir: Path):
    settings = worker_settings(redis_url, model_dir, run_lock_seconds=2, max_attempts=3)
    yield settings
    drop_keys(settings)


def test_worker_killed_mid_job_runs_it_again(fault_env, big_sequence: bytes) -> None:
    """SIGKILL of the process running a job (the OOM killer's way): the job is delivered
    again at once and completes; attempts says it ran twice."""
    with worker_process(fault_env), TestClient(create_app(fault_env)) as client:
        job = post(client, big_sequence)
        kill(wait_running(client, job["id"], set()))
        done = wait_for(client, job["id"])
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 2


def test_job_that_kills_its_worker_every_time_ends_failed(fault_env, big_sequence) -> None:
    with worker_process(fault_env), TestClient(create_app(fault_env)) as client:
        job = post(client, big_sequence, steps=5)
        killed: set[str] = set()
        for _ in range(fault_env.max_attempts):
            where = wait_running(client, job["id"], killed)
            kill(where)
            killed.add(where)
        done = wait_for(client, job["id"])
        assert done["status"] == "failed" and "gave up after 3 attempts" in done["error"]
        assert client.app.state.store.inputs(job["id"]) == []  # dropped when it ended


def test_whole_worker_killed_job_comes_back_after_visibility_timeout(
    redis_url: str, model_dir: Path, big_sequence: bytes
) -> None:
    """``docker stop`` past its grace period kills the whole worker: its unacknowledged message
    returns after the visibility timeout and another worker completes the job."""
    settings = worker_settings(
        redis_url, model_dir, run_lock_seconds=2, visibility_timeout_seconds=12
    )
    try:
        with TestClient(create_app(settings)) as client:
            with worker_process(settings) as first:
                job = post(client, big_sequence, steps=4)
                wait_running(client, job["id"], set())
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            with worker_process(settings):
                done = wait_for(client, job["id"], timeout=90)
            assert done["status"] == "succeeded", done
    finally:
        drop_keys(settings)


def test_stale_job_is_started_again(redis_url: str, model_dir: Path, celery_env) -> None:
    """A job queued long ago whose message was lost (here: sent to a queue no worker reads)
    would come back to every identical request forever; past the time limit it is resubmitted."""
    from radar.netcdf import write_netcdf
    from radar.synthetic import synthetic_sequence

    data = write_netcdf(synthetic_sequence(frames=5, height=64, width=48, seed=11))
    lost = celery_env.model_copy(update={"inference_queue": "nobody-reads-this"})
    with TestClient(create_app(lost)) as client:
        job = post(client, data)
        assert job["status"] == "queued"
        store = client.app.state.store
        assert post(client, data)["cached"] is True  # fresh: the same queued job comes back
        old = datetime.now(UTC) - timedelta(seconds=lost.task_time_limit_seconds + 5)
        store.update(job["id"], created=old.isoformat())
    with TestClient(create_app(celery_env)) as client:
        again = post(client, data)
        assert again["id"] == job["id"] and again["cached"] is False
        assert wait_for(client, job["id"])["status"] == "succeeded"


def test_concurrent_identical_posts_make_one_job(celery_env) -> None:
    """Eight identical requests at once: one job, one message, one computation, no error; the
    same for eight identical requests that find the job failed (one replaces it)."""
    from radar.netcdf import write_netcdf
    from radar.synthetic import synthetic_sequence

    data = write_netcdf(synthetic_sequence(frames=5, height=64, width=48, seed=12))
    with TestClient(create_app(celery_env)) as client:
        store = client.app.state.store
        before = store.stats()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: post(client, data), range(8)))
        assert len({a["id"] for a in answers}) == 1
        assert sum(not a["cached"] for a in answers) == 1
        jid = answers[0]["id"]
        assert wait_for(client, jid)["status"] == "succeeded"
        after = store.stats()
        assert after.get("submitted", 0) - before.get("submitted", 0) == 1
        assert after["computations"] - before.get("computations", 0) == 1

        store.update(jid, status="failed", error="pretend")
        store.redis.delete(store._key("result", jid))
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: post(client, data), range(8)))
        assert sum(not a["cached"] for a in answers) == 1  # one replace won, one enqueue
        assert store.stats()["submitted"] - after["submitted"] == 1
        assert wait_for(client, jid)["status"] == "succeeded"


def test_two_runs_of_one_job_compute_once(redis_url: str, model_dir: Path) -> None:
    """The same job delivered twice at once (a stale resubmission meets the first message):
    the run lock lets one compute; the other finds it done."""
    from radar.netcdf import write_netcdf
    from radar.synthetic import synthetic_sequence
    from workers.seam import now_iso, open_store

    settings = worker_settings(redis_url, model_dir)
    store = open_store(settings)
    data = write_netcdf(synthetic_sequence(frames=5, height=256, width=256, seed=13))
    job = {"id": "twice", "status": "queued", "model": "test-persistence", "steps": 6}
    store.create({**job, "created": now_iso()}, [("seq.nc", data)])
    engines = EngineCache(model_dir, "cpu")
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: run_job("twice", store, engines, 3, 5), range(2)))
        assert runs == ["succeeded", "succeeded"]
        assert store.stats()["computations"] == 1
        assert store.get("twice")["attempts"] == 1
    finally:
        drop_keys(settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server with an append-only file in a temp folder (the deploy's way)."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.proc = folder, free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        redis.Redis.from_url(self.url).shutdown(save=False)  # the AOF keeps what was written
        self.proc.wait(timeout=10)


@pytest.fixture()
def private_redis(tmp_path: Path):
    if not shutil.which("redis-server"):
        pytest.skip("no redis-server binary (.ci/run installs it)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_redis_restart(private_redis: RedisServer, model_dir: Path) -> None:
    """While Redis is down the gateway answers 503 with Retry-After (and /healthz stays up);
    it recovers by itself; a job accepted before the restart survives it and completes."""
    from radar.netcdf import write_netcdf
    from radar.synthetic import synthetic_sequence

    settings = worker_settings(private_redis.url, model_dir)
    first = write_netcdf(synthetic_sequence(frames=5, height=64, width=48, seed=21))
    second = write_netcdf(synthetic_sequence(frames=5, height=64, width=48, seed=22))
    with TestClient(create_app(settings)) as client:
        job = post(client, first)  # accepted while no worker runs
        private_redis.stop()
        assert client.get("/healthz").status_code == 200
        for r in (
            client.get(f"/jobs/{job['id']}"),
            client.post("/nowcast", files=[("frames", ("seq.nc", second))]),
        ):
            assert r.status_code == 503 and r.json()["code"] == "unavailable", r.text
            assert int(r.headers["Retry-After"]) > 0
        assert client.get("/readyz").status_code == 503
        private_redis.start()
        assert client.get(f"/jobs/{job['id']}").json()["status"] == "queued"  # survived
        with worker_process(settings) as worker:
            assert wait_for(client, job["id"])["status"] == "succeeded"
            # a restart while the worker runs: it reconnects and takes new jobs
            private_redis.stop()
            threading.Event().wait(1.0)
            private_redis.start()
            again = post(client, second)
            assert wait_for(client, again["id"])["status"] == "succeeded"
            assert worker.poll() is None
