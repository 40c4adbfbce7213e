"""Training started as a Celery task on the train queue, by a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.service.conftest import REPO

pytest.importorskip("torch")


def test_train_task_on_the_train_queue_exports_a_model(redis_url: str, tmp_path: Path):
    from workers.seam import TRAIN_TASK, Settings, make_celery

    tag = uuid.uuid4().hex[:8]
    queue = f"train-test-{tag}"
    env = {
        **os.environ,
        "NOWCAST_REDIS_URL": redis_url,
        "NOWCAST_TRAIN_QUEUE": queue,
        "NOWCAST_INFERENCE_QUEUE": f"inference-test-{tag}",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nowcast",
                "worker",
                "-Q",
                queue,
                "-n",
                f"train-{tag}@%h",
                "--loglevel",
                "warning",
            ],
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        settings = Settings(redis_url=redis_url, train_queue=queue)
        app = make_celery(settings)
        out = tmp_path / "run"
        served = tmp_path / "served"
        argv = [
            "--synthetic",
            "4",
            "--hidden",
            "4",
            "--patch",
            "2",
            "--t-in",
            "2",
            "--t-out",
            "2",
            "--crop",
            "32",
            "--batch",
            "2",
            "--epochs",
            "1",
            "--items-per-epoch",
            "4",
            "--split",
            "0.5,0.25,0.25",
            "--val-items",
            "2",
            "--no-progress",
            "--name",
            "celery-trained",
            "--out",
            str(out),
            "--model-dir",
            str(served),
        ]
        app.send_task(TRAIN_TASK, args=[argv], queue=settings.train_queue)
        deadline = time.monotonic() + 300
        while not (served / "celery-trained.onnx").exists():
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        assert (out / "metrics.jsonl").read_text().count("\n") == 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
