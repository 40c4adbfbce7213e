"""workers/train_job.py: documented options, a smoke run through export, exact resume after
SIGKILL, and the same script under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "workers" / "train_job.py"
TINY = [
    "--synthetic",
    "6",
    "--model",
    "ms-convlstm",
    "--hidden",
    "8",
    "--patch",
    "2",
    "--t-in",
    "3",
    "--t-out",
    "3",
    "--crop",
    "32",
    "--batch",
    "2",
    "--split",
    "0.6,0.2,0.2",
    "--val-items",
    "4",
    "--no-progress",
]


def env() -> dict:
    # one thread: identical arithmetic in every process, so two runs can be compared exactly
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_help_documents_every_option():
    from workers.train_job import build_parser

    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    ).stdout
    for action in build_parser()._actions:
        if action.dest == "help":
            continue
        assert action.help and len(action.help) > 10, action.dest
        assert action.option_strings[0] in out, action.option_strings


def test_bad_options_are_one_clear_error(tmp_path):
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", "x", "--split", "0.5,0.1"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "--split" in res.stderr
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", "x"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "no training data" in res.stderr
    assert not (tmp_path / "x").exists()  # nothing is written for a run that cannot start
    assert "Traceback" not in res.stderr


def test_smoke_run_trains_validates_and_exports_a_servable_model(tmp_path):
    from workers.catalog import list_models
    from workers.engine import Engine
    from workers.train_job import main

    served = tmp_path / "served"
    path = main(
        [
            *TINY,
            "--epochs",
            "2",
            "--items-per-epoch",
            "8",
            "--out",
            str(tmp_path / "run"),
            "--model-dir",
            str(served),
            "--export-steps",
            "5",
            "--name",
            "smoke",
            "--keep-epochs",
        ]
    )
    run = tmp_path / "run"
    assert path == served / "smoke.onnx" and path.exists()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2] and lines[-1]["step"] == 8
    assert all(np.isfinite(x["val_loss"]) and x["val_windows"] > 0 for x in lines)
    assert json.loads((run / "config.json").read_text())["hidden"] == 8
    entry = list_models(served)["smoke"]
    assert (entry.t_in, entry.t_out, entry.stride, entry.resolution_m) == (3, 5, 8, 1000.0)
    scores = json.loads(entry.meta["validation_scores"])
    assert scores["val_loss"] == pytest.approx(min(x["val_loss"] for x in lines))
    best_step = min(lines, key=lambda x: x["val_loss"])["step"]
    assert json.loads(entry.meta["training"])["steps"] == best_step
    assert json.loads(entry.meta["training_data"])["synthetic_sequences"] == 6
    frames = np.random.default_rng(0).random((1, 3, 1, 24, 40), dtype=np.float32)
    out = Engine(path, device="cpu").run_pixels(frames)
    assert out.shape == (1, 5, 1, 24, 40) and np.isfinite(out).all()
    # --keep-epochs: every epoch's weights and scores, to choose by full-grid skill afterwards
    kept = sorted(run.glob("epoch-*.pt"))
    assert [p.name for p in kept] == ["epoch-001.pt", "epoch-002.pt"]
    for line, ckpt in zip(lines, kept, strict=True):
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        assert saved["progress"]["step"] == line["step"]
        assert saved["scores"]["val_loss"] == pytest.approx(line["val_loss"])
    second = torch.load(kept[1], map_location="cpu", weights_only=False)["model"]
    last = torch.load(run / "last.pt", map_location="cpu", weights_only=False)["model"]
    assert all(torch.equal(second[k], last[k]) for k in last)


def _progress(path: Path) -> dict | None:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["progress"]
    except (FileNotFoundError, EOFError, RuntimeError):
        return None


def test_sigkill_mid_epoch_resumes_with_the_same_steps_and_optimizer_state(tmp_path):
    args = [
        *TINY,
        "--crop",
        "64",
        "--hidden",
        "16",
        "--epochs",
        "2",
        "--items-per-epoch",
        "24",
        "--checkpoint-every",
        "1",
    ]
    reference = tmp_path / "reference"
    subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(reference)],
        env=env(),
        check=True,
        capture_output=True,
    )

    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args, "--out", str(run)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        progress = _progress(run / "last.pt")
        if progress and 4 <= progress["step"] and progress["epoch"] == 0:
            proc.send_signal(signal.SIGKILL)
            break
        if proc.poll() is not None:
            pytest.fail("training ended before it could be killed mid-epoch")
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert 0 < killed["progress"]["batch"] < 12  # mid-epoch

    res = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(run)],
        env=env(),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert f"resumed from {run / 'last.pt'} at step {killed['progress']['step']}" in res.stderr

    a = torch.load(reference / "last.pt", map_location="cpu", weights_only=False)
    b = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert a["progress"]["step"] == b["progress"]["step"] == 24
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=1e-6)
    for pa, pb in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert float(pa["step"]) == float(pb["step"]) == 24
        torch.testing.assert_close(pa["exp_avg_sq"], pb["exp_avg_sq"], rtol=0, atol=1e-9)


@pytest.mark.skipif(
    shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
    reason="torchrun not installed",
)
def test_the_same_script_runs_distributed_under_torchrun(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    res = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node=2",
            str(SCRIPT),
            *TINY,
            "--epochs",
            "1",
            "--items-per-epoch",
            "8",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "ddp"),
        ],
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["step"] == 2  # 8 items / (batch 2 x 2 ranks)
    assert (tmp_path / "ddp" / "ms-convlstm.onnx").exists()


def test_init_from_starts_at_another_runs_weights(tmp_path):
    from workers.train_job import main

    base = [*TINY, "--epochs", "1", "--items-per-epoch", "4"]
    main([*base, "--out", str(tmp_path / "a")])
    main(
        [
            *base,
            "--lr",
            "1e-12",
            "--out",
            str(tmp_path / "b"),
            "--init-from",
            str(tmp_path / "a" / "best.pt"),
        ]
    )
    a = torch.load(tmp_path / "a" / "best.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "best.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="hidden 8 != 4"):
        main(
            [
                *base,
                "--hidden",
                "4",
                "--out",
                str(tmp_path / "c"),
                "--init-from",
                str(tmp_path / "a" / "best.pt"),
            ]
        )
