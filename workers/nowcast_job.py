"""workers.nowcast_job: one nowcast job from stored inputs to stored result (a plain function).

The Celery task and the embedded runner both call :func:`run_job`; it holds the logic, they
only wire it (the inference itself is :class:`workers.engine.Engine`). Errors a user caused
(bad frames, a model that cannot serve them) end the job as
``failed`` with the message; anything else ends it as ``failed`` with "internal error" and is
logged with its traceback. Either way the job never stays ``running`` and its inputs are
dropped. A Redis outage is not the job's fault: it propagates, and the task retries.

A job may be delivered more than once (its worker died, a stale job was sent again): one run
at a time holds its run lock, a finished job is not run again, and a job that has started
``max_attempts`` times without ending (it kills its worker every time) ends ``failed``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from os import PathLike
from typing import TYPE_CHECKING

from models.errors import ModelError
from radar.exceptions import RadarError
from radar.netcdf import write_netcdf
from radar.outputs import with_observations
from radar.sequence import read_sequence
from radar.sources import Blob
from workers.catalog import list_models
from workers.seam import JobStore, get_settings, now_iso, outage_errors

if TYPE_CHECKING:  # onnxruntime is imported when the first engine is built
    from workers.engine import Engine

log = logging.getLogger(__name__)

#: zlib level of a result's rain: zlib's fast matcher (levels 1-3) writes a DE1200 nowcast about
#: 2x faster than level 4 for about 5 % more bytes; results live hours, not years.
RESULT_COMPLEVEL = 3


def run_job(
    job_id: str,
    store: JobStore,
    get_engine: Callable[[str], Engine],
    max_attempts: int | None = None,
    lock_seconds: float | None = None,
) -> str:
    """Run job ``job_id``; returns its final status (or ``missing``, or ``busy`` when another
    live process runs it)."""
    settings = get_settings()
    max_attempts = max_attempts or settings.max_attempts
    lock_seconds = lock_seconds or settings.run_lock_seconds
    with store.run_lock(job_id, lock_seconds) as held:
        if not held:
            log.warning("job %s is being run by another process; leaving it", job_id)
            return "busy"
        job = store.get(job_id)  # read under the lock: a run before us may have ended it
        if job is None:
            log.warning("job %s vanished before it ran (expired?)", job_id)
            return "missing"
        if job.get("status") == "failed" or (
            job.get("status") == "succeeded" and store.has_result(job_id)
        ):  # delivered again after it ended
            return job["status"]
        attempt = store.start_attempt(job_id)
        if attempt > max_attempts:
            return _fail(
                store,
                job_id,
                f"gave up after {max_attempts} attempts: the worker running this job was lost "
                "every time (killed, out of memory, time limit?)",
            )
        return _run(job_id, job, store, get_engine)


def _fail(store: JobStore, job_id: str, message: str) -> str:
    store.incr("failures")
    store.update(job_id, status="failed", error=message, finished=now_iso())
    store.drop_inputs(job_id)
    return "failed"


def _run(job_id: str, job: dict, store: JobStore, get_engine: Callable[[str], Engine]) -> str:
    started = time.perf_counter()
    # which process runs it (host:pid): for operators, and for the tests that kill it
    where = f"{socket.gethostname()}:{os.getpid()}"
    store.update(job_id, status="running", started=now_iso(), progress=0.0, worker=where)
    last = [0.0]

    def progress(fraction: float) -> None:
        # about 10 writes per job at most: progress is for humans, not a stream
        if fraction - last[0] >= 0.1 or fraction >= 1.0:
            last[0] = fraction
            store.update(job_id, progress=round(0.1 + 0.8 * fraction, 3))

    # seconds per phase, kept in the job record: decode, prepare (to the model grid),
    # inference (motion and onnxruntime), regrid (back to the input grid), encode (NetCDF)
    timings: dict[str, float] = {}
    try:
        blobs = [Blob(name, data) for name, data in store.inputs(job_id)]
        if not blobs:
            raise RadarError("the job's input frames are gone (expired before the job ran)")
        clock = time.perf_counter()
        sequence = read_sequence(blobs)
        timings["decode"] = time.perf_counter() - clock
        store.update(job_id, progress=0.1)
        engine = get_engine(job["model"])
        forecast = engine.predict(
            sequence, steps=int(job["steps"]), progress=progress, timings=timings
        )
        clock = time.perf_counter()
        # the last observed frames travel with the result, for viewers (observation, then nowcast)
        data = write_netcdf(with_observations(forecast, sequence), complevel=RESULT_COMPLEVEL)
        timings["encode"] = time.perf_counter() - clock
        store.set_result(job_id, data)
        store.incr("computations")
        store.update(
            job_id,
            status="succeeded",
            progress=1.0,
            finished=now_iso(),
            result_bytes=len(data),
            compute_seconds=round(time.perf_counter() - started, 3),
            timings={phase: round(seconds, 3) for phase, seconds in timings.items()},
            error=None,
        )
        store.drop_inputs(job_id)
        return "succeeded"
    except (RadarError, ModelError) as exc:
        message = str(exc)
    except outage_errors():
        raise  # Redis is away: not the job's fault; the task tries again
    except Exception as exc:  # the job must end failed, whatever broke
        log.exception("job %s failed", job_id)
        message = f"internal error: {type(exc).__name__}: {exc}"
    return _fail(store, job_id, message)


class EngineCache:
    """One :class:`workers.engine.Engine` per model name, created on first use in this process."""

    def __init__(self, model_dir: str | PathLike, device: str | None = None):
        self.model_dir = model_dir
        self.device = device
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()  # the warm-up thread and a first job may meet here

    def providers(self) -> dict[str, list[str]]:
        """model -> the providers its session really uses, for the sessions made so far."""
        return {name: list(engine.providers) for name, engine in self._engines.items()}

    def __call__(self, name: str) -> Engine:
        with self._lock:
            return self._get(name)

    def _get(self, name: str) -> Engine:
        if name not in self._engines:
            from workers.engine import Engine

            models = list_models(self.model_dir)  # read again: a trainer may have added one
            if name not in models:
                known = ", ".join(models)
                raise ModelError(f"model {name!r} is not served here (known: {known})")
            threads = int(os.environ.get("NOWCAST_ORT_THREADS", "0")) or None  # nowcast worker
            self._engines[name] = Engine(models[name].path, device=self.device, threads=threads)
        return self._engines[name]
