"""Training in an advection mode: motion cached beside the data, the loss masked where rain flows
in from outside, a servable two-input ONNX file, and warm starts that refuse a different mode."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("pysteps")

from models.checkpoint import save_checkpoint  # noqa: E402
from models.registry import build  # noqa: E402
from models.training import (  # noqa: E402
    TrainConfig,
    add_motion,
    sequence_loss,
    synthetic_sequences,
    warm_start,
)

TINY = [
    "--synthetic",
    "2",
    "--model",
    "ms-convlstm",
    "--hidden",
    "4",
    "--patch",
    "4",
    "--t-in",
    "4",
    "--t-out",
    "4",
    "--crop",
    "64",
    "--batch",
    "2",
    "--epochs",
    "1",
    "--items-per-epoch",
    "4",
    "--val-items",
    "2",
    "--split",
    "0.5,0.5,0",
    "--no-progress",
]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_lagrangian_smoke_run_exports_a_model_the_engine_serves(tmp_path):
    from radar.synthetic import synthetic_sequence
    from workers.engine import Engine
    from workers.train_job import main

    cache = tmp_path / "cache"
    path = main(
        [
            *TINY,
            "--advection",
            "lagrangian",
            "--out",
            str(tmp_path / "run"),
            "--cache-dir",
            str(cache),
        ]
    )
    run = tmp_path / "run"
    assert path == run / "ms-convlstm.onnx" and path.exists()
    config = json.loads((run / "config.json").read_text())
    assert config["advection"] == "lagrangian" and config["cache_dir"] == str(cache)
    (record,) = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert np.isfinite(record["train_loss"]) and np.isfinite(record["val_loss"])
    motion_files = sorted(cache.glob("motion-*.npz"))
    assert len(motion_files) == 2  # train and val, in the cache folder, not the run folder
    assert not list(run.glob("motion-*.npz"))

    engine = Engine(path, device="cpu")
    assert engine.needs_motion and engine.inputs == ["frames", "motion"]
    assert engine.info.meta["advection"] == "lagrangian"
    assert engine.info.meta["motion_coarsen"] == "2"  # the training default
    ds = synthetic_sequence(frames=5, height=50, width=70, seed=3)  # pads to 64 x 80
    out = engine.predict(ds)
    rain = out["rainfall_rate"].values
    assert rain.shape == (engine.info.t_out, 50, 70) == (4, 50, 70)
    assert np.isfinite(rain).all() and rain.min() >= 0 and rain.max() < 400

    # a plain checkpoint cannot start an advection run, nor the other way round
    plain = build("ms-convlstm", hidden=4, patch=4, t_in=4, t_out=4)
    save_checkpoint(tmp_path / "plain.pt", plain)
    stamps = {p: p.stat().st_mtime_ns for p in motion_files}
    with pytest.raises(ValueError, match="a different network.*advection none != lagrangian"):
        main(
            [
                *TINY,
                "--advection",
                "lagrangian",
                "--out",
                str(tmp_path / "b"),
                "--cache-dir",
                str(cache),
                "--init-from",
                str(tmp_path / "plain.pt"),
            ]
        )
    assert {p: p.stat().st_mtime_ns for p in motion_files} == stamps  # motion from the cache
    with pytest.raises(ValueError, match="advection lagrangian != none"):
        main([*TINY, "--out", str(tmp_path / "c"), "--init-from", str(run / "best.pt")])


@pytest.mark.parametrize("postprocess", ["cdf-match", "frame-cdf-match"])
def test_frozen_cascade_run_learns_only_the_level_fading(tmp_path, postprocess):
    from models.checkpoint import load_checkpoint
    from workers.engine import Engine
    from workers.train_job import main

    start = build("ms-convlstm", hidden=4, patch=4, t_in=4, t_out=4, advection="cascade")
    save_checkpoint(tmp_path / "start.pt", start)
    args = [*TINY, "--advection", "cascade", "--loss", "balanced+csi", "--lr", "0.05"]
    path = main(
        [
            *args,
            *("--postprocess", postprocess, "--freeze-network"),
            *("--out", str(tmp_path / "run"), "--init-from", str(tmp_path / "start.pt")),
        ]
    )
    trained = load_checkpoint(tmp_path / "run" / "last.pt")["model"]
    for name, value in start.state_dict().items():
        if name != "level_fade":
            torch.testing.assert_close(trained[name], value, rtol=0, atol=0)
    assert trained["level_fade"].abs().min() > 0  # every level's fading moved
    assert Engine(path, device="cpu").postprocess == postprocess  # from the training config
    assert load_checkpoint(tmp_path / "run" / "best.pt")["config"]["frame_match"] == (
        postprocess == "frame-cdf-match"
    )
    with pytest.raises(ValueError, match="leaves nothing to train"):
        main([*TINY, "--advection", "lagrangian", "--freeze-network", "--out", str(tmp_path / "l")])


def test_warm_start_accepts_checkpoints_from_before_the_advection_modes(tmp_path):
    source = build("convlstm", hidden=4, layers=2, t_in=2, t_out=2)
    with torch.no_grad():
        source.head.weight.fill_(0.5)
    path = save_checkpoint(tmp_path / "old.pt", source)
    payload = torch.load(path, weights_only=False)
    del payload["config"]["advection"]  # as written before the advection modes existed
    torch.save(payload, path)
    target = build("convlstm", hidden=4, layers=2, t_in=2, t_out=2)
    warm_start(target, str(path))
    torch.testing.assert_close(target.head.weight, source.head.weight)
    residual = build("convlstm", hidden=4, layers=2, t_in=2, t_out=2, advection="residual")
    with pytest.raises(ValueError, match="advection none != residual"):
        warm_start(residual, str(path))


def test_masked_loss_ignores_the_pixels_no_forecast_can_know():
    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 3, 1, 8, 8, generator=gen)
    mask = (torch.rand(2, 3, 1, 8, 8, generator=gen) > 0.3).float()
    pred = truth + (1 - mask) * 5.0  # wrong only where the mask says unknown
    for kind in ("mse+mae", "balanced"):
        assert float(sequence_loss(pred, truth, kind, mask)) == 0.0
        assert float(sequence_loss(pred, truth, kind)) > 1.0
    off = truth + 0.5
    per_pixel = 0.25 + 0.5
    expected = per_pixel * float(mask.flatten(2).sum(2).mean())
    assert float(sequence_loss(off, truth, "mse+mae", mask)) == pytest.approx(expected, rel=1e-5)


def test_motion_is_estimated_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    import models.training as training

    cfg = TrainConfig(
        data=[],
        out=str(tmp_path / "run"),
        synthetic=1,
        crop=32,
        t_in=2,
        t_out=2,
        advection="lagrangian",
    )
    first = synthetic_sequences(1, cfg)
    first[0] = first[0].part(0, 6, "")
    add_motion(first, cfg, tmp_path)
    assert first[0].motion.shape == (6, 2, 64, 64) and first[0].motion.any()
    (cache,) = tmp_path.glob("motion-*.npz")

    def refuse(*args, **kwargs):
        raise AssertionError("motion estimated again instead of read from the cache")

    monkeypatch.setattr(training, "attach_motion", refuse)
    again = synthetic_sequences(1, cfg)
    again[0] = again[0].part(0, 6, "")
    add_motion(again, cfg, tmp_path)
    np.testing.assert_array_equal(again[0].motion, first[0].motion)
    other = dataclasses.replace(cfg, motion_coarsen=1)  # other parameters, other key
    with pytest.raises(AssertionError, match="estimated again"):
        add_motion(again, other, tmp_path)
    assert [p.name for p in tmp_path.glob("motion-*.npz")] == [cache.name]
