"""workers.celery_app: the workers' Celery application (wiring only; the logic is in plain
functions). Its configuration is :func:`workers.seam.celery_config`, the same the gateway
sends with, so queueing is set in one place.
"""

from __future__ import annotations

from celery import Celery

from workers.seam import make_celery

#: The task modules a worker loads; the gateway never imports them.
TASK_MODULES = ("workers.tasks.inference", "workers.tasks.training")

app = None  # created on first use by get_app(), so importing this module needs no Redis URL


def get_app() -> Celery:
    global app
    if app is None:
        app = make_celery(include=TASK_MODULES)
    return app
