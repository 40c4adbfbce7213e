"""service.runner: how the gateway hands a job to a worker.

* With Redis: a Celery message naming the task and the job id (the frames stay in Redis and
  are passed by reference); the gateway never imports the task code.
* Embedded: one background thread in this process runs the same :func:`run_job` a Celery
  worker would, so both modes share every line of the job logic.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from workers.names import INFERENCE_TASK
from workers.settings import Settings

log = logging.getLogger(__name__)


class CeleryRunner:
    def __init__(self, settings: Settings):
        from celery import Celery

        self.settings = settings
        self.app = Celery("nowcast-gateway", broker=settings.redis_url)
        self.app.conf.update(
            broker_connection_retry_on_startup=True,
            task_serializer="json",
            broker_transport_options={"visibility_timeout": 7 * 24 * 3600},
        )

    def submit(self, job_id: str) -> None:
        self.app.send_task(INFERENCE_TASK, args=[job_id], queue=self.settings.inference_queue)

    def workers_alive(self) -> bool:
        try:
            return bool(self.app.control.ping(timeout=1.0))
        except Exception:  # broker unreachable
            return False

    def close(self) -> None:
        pass


class EmbeddedRunner:
    def __init__(self, settings: Settings, store):
        from workers.inference import EngineCache

        self.store = store
        self.engines = EngineCache(settings.model_dir, settings.device)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nowcast-job")

    def submit(self, job_id: str) -> None:
        from workers.inference import run_job

        self.pool.submit(run_job, job_id, self.store, self.engines)

    def workers_alive(self) -> bool:
        return not self.pool._shutdown  # noqa: SLF001 - the executor has no public flag

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
