"""workers.tasks.training: the Celery task that trains a model on the ``train`` queue."""

from __future__ import annotations

from workers.celery_app import get_app
from workers.names import TRAIN_TASK

app = get_app()

#: A training run lasts hours or days: the inference jobs' time limits must not apply to it.
TRAIN_TIME_LIMIT_SECONDS = 7 * 24 * 3600


@app.task(
    name=TRAIN_TASK,
    bind=True,
    time_limit=TRAIN_TIME_LIMIT_SECONDS,
    soft_time_limit=TRAIN_TIME_LIMIT_SECONDS - 60,
)
def train(self, argv: list[str]) -> str:
    """Run ``workers/train_job.py`` with command-line arguments ``argv``; returns the model path.

    Killed or lost, the task is delivered again (late acknowledgement) and the run resumes from
    its last checkpoint, because the same ``--out`` folder is given again.
    """
    from workers.train_job import main

    return str(main(argv))
