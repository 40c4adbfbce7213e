"""Training data: decoded once at the model's resolution, split by time, windows with rain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.data import WindowDataset, load_sequences, split_sequences
from radar.netcdf import write_netcdf
from radar.synthetic import synthetic_sequence
from radar.transforms import rain_to_pixel

torch = pytest.importorskip("torch")


def archive(folder: Path, starts: list[str], frames: int = 12) -> Path:
    for k, start in enumerate(starts):
        ds = synthetic_sequence(frames=frames, height=64, width=64, seed=k, start=start)
        write_netcdf(ds, folder / f"seq{k}.nc")
    return folder


def test_sequences_are_runs_at_model_resolution(tmp_path: Path) -> None:
    archive(tmp_path, ["2024-07-01T12:00", "2024-07-01T14:00"])
    seqs = load_sequences(tmp_path, resolution_m=2000)
    assert [len(s) for s in seqs] == [12, 12]  # two runs: the 1 h gap splits them
    assert seqs[0].pixels.shape == (12, 32, 32) and seqs[0].pixels.dtype == np.uint8
    src = synthetic_sequence(frames=12, height=64, width=64, seed=0, start="2024-07-01T12:00")
    block = src["rainfall_rate"].values[3].reshape(32, 2, 32, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(seqs[0].pixels[3] / 255, rain_to_pixel(block), atol=1 / 255 + 2e-3)


def test_split_by_whole_runs_in_time_order(tmp_path: Path) -> None:
    archive(tmp_path, [f"2024-07-0{d}T12:00" for d in range(1, 6)], frames=6)
    splits = split_sequences(load_sequences(tmp_path, 1000), (0.6, 0.2, 0.2))
    times = {k: [s.times[0] for s in v] for k, v in splits.items()}
    assert len(times["train"]) == 3 and len(times["val"]) == 1 and len(times["test"]) == 1
    assert max(times["train"]) < min(times["val"]) < min(times["test"])


def test_split_inside_a_single_run(tmp_path: Path) -> None:
    archive(tmp_path, ["2024-07-01T12:00"], frames=20)
    splits = split_sequences(load_sequences(tmp_path, 1000), (0.7, 0.15, 0.15))
    lengths = [sum(len(s) for s in splits[k]) for k in ("train", "val", "test")]
    assert lengths == [14, 3, 3]
    assert splits["train"][0].times[-1] < splits["val"][0].times[0] < splits["test"][0].times[0]


def test_windows_random_and_fixed(tmp_path: Path) -> None:
    archive(tmp_path, ["2024-07-01T12:00"], frames=12)
    seqs = load_sequences(tmp_path, 1000)
    train = WindowDataset(seqs, length=6, crop=32, items_per_epoch=10)
    item = train[3]
    assert item.shape == (6, 1, 32, 32) and item.dtype == torch.float32
    assert 0 <= float(item.min()) and float(item.max()) <= 1
    assert len(train) == 10
    val = WindowDataset(seqs, length=6, crop=32, random=False)
    assert len(val) == 7  # 12 - 6 + 1 windows
    assert torch.equal(val[2], val[2])
    with pytest.raises(ValueError, match="smaller than crop"):
        WindowDataset(seqs, length=6, crop=128)
