"""workers.celery_app: the Celery application (wiring only; the logic is in plain functions).

Settings follow Celery's guidance for long, expensive tasks: late acknowledgement with
rejection when a worker dies (the job is redelivered, and :func:`workers.inference.run_job` is
idempotent by job id), one task reserved at a time, hard and soft time limits, and a Redis
visibility timeout longer than the longest training run. Results live in our job store, so
Celery's result backend is off.
"""

from __future__ import annotations

from celery import Celery

from workers.names import INFERENCE_TASK, TRAIN_TASK


def make_celery(redis_url: str | None = None) -> Celery:
    from workers.settings import get_settings

    settings = get_settings()
    url = redis_url or settings.redis_url
    if not url:
        raise RuntimeError("Celery needs REDIS_URL (the embedded mode runs jobs in-process)")
    app = Celery(
        "nowcast", broker=url, include=["workers.tasks.inference", "workers.tasks.training"]
    )
    app.conf.update(
        task_routes={
            INFERENCE_TASK: {"queue": settings.inference_queue},
            TRAIN_TASK: {"queue": settings.train_queue},
        },
        task_default_queue=settings.inference_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=500,
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=max(settings.task_time_limit_seconds - 30, 5),
        broker_transport_options={"visibility_timeout": 7 * 24 * 3600},
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
    )
    return app


app = None  # created on first use by get_app(), so importing this module needs no Redis URL


def get_app() -> Celery:
    global app
    if app is None:
        app = make_celery()
    return app
