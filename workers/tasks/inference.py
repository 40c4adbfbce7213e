"""workers.tasks.inference: the Celery task that runs one nowcast job (wiring only)."""

from __future__ import annotations

from celery import Task

from workers.celery_app import get_app
from workers.nowcast_job import EngineCache, run_job
from workers.seam import INFERENCE_TASK, JobStore, get_settings, open_store, outage_errors

app = get_app()


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
    return run_job(job_id, self.store, self.engines)
