"""workers.tasks.training: the Celery task that trains a model on the ``train`` queue."""

from __future__ import annotations

from workers.celery_app import get_app
from workers.names import TRAIN_TASK

app = get_app()


@app.task(name=TRAIN_TASK, bind=True)
def train(self, argv: list[str]) -> str:
    """Run ``workers/train_job.py`` with command-line arguments ``argv``; returns the model path."""
    from workers.train_job import main

    return str(main(argv))
