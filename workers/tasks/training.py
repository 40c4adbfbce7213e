"""workers.tasks.training: the Celery task that trains a model on the ``train`` queue.

Its week-long time limits are set with the rest of the queueing, in
:func:`workers.seam.celery_config`.
"""

from __future__ import annotations

from workers.celery_app import get_app
from workers.seam import TRAIN_TASK

app = get_app()


@app.task(name=TRAIN_TASK, bind=True)
def train(self, argv: list[str]) -> str:
    """Run ``workers/train_job.py`` with command-line arguments ``argv``; returns the model path.

    The message is acknowledged when the run starts (no visibility timeout fits a run of days,
    :func:`workers.seam.celery_config`): a killed run is sent again with the same ``argv``
    and resumes from its last checkpoint in the same ``--out`` folder.
    """
    from workers.train_job import main

    return str(main(argv))
