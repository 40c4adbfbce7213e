"""workers.tasks.inference: the Celery task that runs one nowcast job (wiring only)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from celery import Task
from celery.signals import worker_process_init

from workers.celery_app import get_app
from workers.nowcast_job import EngineCache, run_job
from workers.seam import (
    INFERENCE_TASK,
    PROVIDERS_TTL_S,
    Catalog,
    JobStore,
    get_settings,
    open_store,
    outage_errors,
    publish_providers,
)

app = get_app()
log = logging.getLogger(__name__)

#: Set when this process started its warm-up (prefork children; solo and thread pools have
#: none) and when it ended (either way); jobs wait for the end, at most WARM_UP_WAIT_S.
WARMING, WARMED = threading.Event(), threading.Event()
WARM_UP_WAIT_S = 300


class EngineTask(Task):
    """Holds this process's job store and onnxruntime sessions, created on first use.

    A task class is instantiated once per worker process, so the sessions are built after the
    fork (never inherited through it) and reused by every later job.
    """

    _store = None
    _engines = None

    @property
    def store(self) -> JobStore:
        if self._store is None:
            self._store = open_store(get_settings())
        return self._store

    @property
    def engines(self) -> EngineCache:
        if self._engines is None:
            s = get_settings()
            self._engines = EngineCache(s.model_dir, s.device)
        return self._engines


#: Redis away for longer than the client's own retries: try the job again with backoff
#: (0.5 s, 1 s, 2 s ... up to a minute); the run lock and the job's state make a retry safe.
@app.task(
    name=INFERENCE_TASK,
    base=EngineTask,
    bind=True,
    autoretry_for=outage_errors(),
    retry_backoff=0.5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=12,
)
def run_nowcast(self: EngineTask, job_id: str) -> str:
    # a job that arrives during the warm-up waits for it: the two importing the same modules
    # (matplotlib through wradlib) at once made one see a half-made module
    if WARMING.is_set():
        WARMED.wait(WARM_UP_WAIT_S)
    return run_job(job_id, self.store, self.engines)


@worker_process_init.connect
def start_warm_up(**_) -> None:
    """In every worker child as it starts: in a thread, so that the child answers Celery's
    start-up check at once (it allows 4 s) while the session is built."""
    WARMING.set()
    threading.Thread(target=warm_up_and_publish, name="warm-up", daemon=True).start()


def warm_up_and_publish(stop: threading.Event | None = None) -> None:
    """Build the default model's session and run it once (:meth:`Engine.warm_up`), then
    publish the providers of this child's sessions (``/readyz`` and ``/models`` show them) and
    refresh them every third of their TTL until ``stop``."""
    task: EngineTask = app.tasks[INFERENCE_TASK]
    settings = get_settings()
    default = Catalog.read(settings.model_dir, settings.default_model).get()
    try:
        if default is not None:
            seconds = task.engines(default.name).warm_up()
            log.info("warm-up of %s: %.2f s", default.name, seconds)
    except Exception:  # a broken model fails its jobs with a reason; the worker stays
        log.exception("warm-up failed")
    finally:
        WARMED.set()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    stop = stop or threading.Event()
    while True:
        try:
            publish_providers(task.store.redis, settings, worker, task.engines.providers())
        except outage_errors():
            pass  # Redis away: the next round tries again
        if stop.wait(PROVIDERS_TTL_S / 3):
            return
