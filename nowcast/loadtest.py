"""nowcast.loadtest: a bounded load test on loopback (``nowcast bench load``).

A gateway (``nowcast serve``) and one real ``nowcast worker`` (prefork, one child) run as
subprocesses on the real Redis, on a private key prefix and queue. After one warm-up job, two
phases, each ending by itself:

1. cache hits: ``concurrency`` clients send the same request (the warm-up job's frames) in a
   closed loop for ``duration`` seconds: the highest rate the gateway sustains on this machine;
2. a burst: ``burst`` different fresh jobs at once, more than the worker can take, then waiting
   (at most ``drain_s``) until every job has ended.

A sampler records the queue depth and the resident memory of every process (gateway, worker
and its children, redis-server) once a second. Requests are made with one pre-encoded body
(the client shares the machine with the server and should cost little).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found = []
        for task in tasks:
            found += [int(c) for c in (task / "children").read_text().split()]
        return found
    except OSError:
        return []


@dataclass
class Sampler:
    """Queue depth and RSS per process, once a second, in a thread."""

    redis: object  # redis.Redis
    queue: str
    processes: dict[str, int]  # label -> pid (the worker's children are found as they come)
    samples: list[dict] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            sample = {"t": round(time.monotonic() - start, 1), "queue": self.redis.llen(self.queue)}
            for label, pid in self.processes.items():
                sample[label] = rss_mb(pid)
                if label == "worker":
                    for i, child in enumerate(children(pid)):
                        sample[f"worker child {i + 1}"] = rss_mb(child)
            self.samples.append(sample)
            self._stop.wait(1.0)


def encode(files: list[tuple[str, bytes]], fields: dict) -> tuple[bytes, str]:
    """One multipart body and its content type, encoded once."""
    request = httpx.Request("POST", "http://x/", files=[("frames", f) for f in files], data=fields)
    return request.read(), request.headers["content-type"]


def summary(latencies: list[float], statuses: list[int], seconds: float) -> dict:
    ms = np.asarray(latencies) * 1e3
    return {
        "requests": len(latencies),
        "rate_per_s": len(latencies) / seconds,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
        "max_ms": float(ms.max()) if len(ms) else None,
        "errors": sum(1 for s in statuses if s >= 400),
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
    }


async def cache_hits(base: str, body: bytes, ctype: str, concurrency: int, duration: float):
    latencies: list[float] = []
    statuses: list[int] = []
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                r = await client.post("/nowcast", content=body, headers={"content-type": ctype})
                latencies.append(time.perf_counter() - start)
                statuses.append(r.status_code)

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return summary(latencies, statuses, time.perf_counter() - start)


async def burst(base: str, bodies: list[tuple[bytes, str]], drain_s: float, redis, queue: str):
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def submit(body: bytes, ctype: str) -> tuple[float, int, str | None]:
            start = time.perf_counter()
            r = await client.post("/nowcast", content=body, headers={"content-type": ctype})
            job = r.json().get("id") if r.status_code < 400 else None
            return time.perf_counter() - start, r.status_code, job

        start = time.perf_counter()
        answers = await asyncio.gather(*(submit(b, c) for b, c in bodies))
        accepted = summary([a[0] for a in answers], [a[1] for a in answers],
                           time.perf_counter() - start)  # fmt: skip
        depth_after_submit = redis.llen(queue)
        pending = {job for _, _, job in answers if job}
        ended: dict[str, str] = {}
        deadline = time.perf_counter() + drain_s
        while pending and time.perf_counter() < deadline:
            for job in list(pending):
                status = (await client.get(f"/jobs/{job}")).json()["status"]
                if status in ("succeeded", "failed"):
                    ended[job] = status
                    pending.discard(job)
            await asyncio.sleep(1.0)
        return {
            "jobs": len(bodies),
            "submit": accepted,
            "queue_depth_after_submit": depth_after_submit,
            "succeeded": sum(1 for s in ended.values() if s == "succeeded"),
            "failed": sum(1 for s in ended.values() if s == "failed"),
            "unfinished": len(pending),
            "drain_s": time.perf_counter() - start,
        }


def run(
    frames: list[tuple[str, bytes]],
    model_dir: Path,
    redis_url: str,
    duration: float,
    concurrency: int,
    n_burst: int,
    drain_s: float,
    log_dir: Path,
) -> dict:
    """The whole test; returns its figures (see the module docstring)."""
    import redis as redis_lib

    from nowcast.commands.bench import _free_port
    from workers.seam import Catalog, get_settings

    model = Catalog.read(model_dir, get_settings().default_model).require()
    t_in, steps = model.t_in, model.t_out
    tag = uuid.uuid4().hex[:8]
    queue = f"inference-load-{tag}"
    env = {
        **os.environ,
        "NOWCAST_REDIS_URL": redis_url,
        "NOWCAST_MODEL_DIR": str(model_dir),
        "NOWCAST_KEY_PREFIX": f"nowcast-load-{tag}:",
        "NOWCAST_INFERENCE_QUEUE": queue,
        "NOWCAST_API_KEYS": "off",
    }
    env.pop("REDIS_URL", None)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    redis = redis_lib.Redis.from_url(redis_url)
    procs = []
    try:
        with open(log_dir / f"worker-{tag}.log", "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "nowcast", "worker", "-n", f"load-{tag}@%h",
                 "--loglevel", "warning"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            procs.append(worker)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "nowcast", "serve", "--port", str(port),
             "--log-level", "warning"],
            env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(gateway)
        wait_for(base, gateway)
        redis_pid = int(redis.info("server")["process_id"])
        sampler = Sampler(redis, queue, {"gateway": gateway.pid, "worker": worker.pid,
                                         "redis-server": redis_pid})  # fmt: skip
        sampler.start()
        # warm-up: one job through the worker, so that the cache-hit phase has its hit
        body, ctype = encode(frames[:t_in], {"steps": str(steps)})
        warm = warm_up(base, body, ctype, worker)
        hits = asyncio.run(cache_hits(base, body, ctype, concurrency, duration))
        windows = [frames[k : k + t_in] for k in range(1, len(frames) - t_in + 1)]
        bodies = [encode(windows[i % len(windows)], {"steps": str(steps - i // len(windows))})
                  for i in range(n_burst)]  # fmt: skip
        burst_figures = asyncio.run(burst(base, bodies, drain_s, redis, queue))
        sampler.stop()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for key in redis.scan_iter(f"nowcast-load-{tag}:*"):
            redis.delete(key)
        redis.delete(queue)
    return {
        "model": model.name,
        "t_in": t_in,
        "steps": steps,
        "upload_mb": len(body) / 1e6,
        "concurrency": concurrency,
        "warm_up_s": warm,
        "cache_hits": hits,
        "burst": burst_figures,
        "samples": sampler.samples,
        "load_average": os.getloadavg(),
    }


def wait_for(base: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.3)


def warm_up(base: str, body: bytes, ctype: str, worker: subprocess.Popen) -> float:
    start = time.perf_counter()
    r = httpx.post(f"{base}/nowcast", content=body, headers={"content-type": ctype}, timeout=60)
    r.raise_for_status()
    job = r.json()["id"]
    deadline = time.monotonic() + 600
    while (status := httpx.get(f"{base}/jobs/{job}").json()["status"]) not in (
        "succeeded",
        "failed",
    ):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the warm-up job did not end (is the worker running?)")
        time.sleep(0.3)
    if status != "succeeded":
        raise RuntimeError("the warm-up job failed")
    return time.perf_counter() - start
