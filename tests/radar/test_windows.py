"""Window builder: lazy index, gaps skipped, time splits without shared frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radar.netcdf import write_netcdf
from radar.synthetic import synthetic_sequence
from radar.windows import Windows, index_frames, split_by_time
from tests.helpers import radolan_bytes


def write_frames(folder: Path, times: list[str]) -> None:
    for k, t in enumerate(times):
        raw = np.full((900, 900), k, dtype=np.uint16)  # frame k rains k * 0.12 mm/h everywhere
        stamp = pd.Timestamp(t).strftime("%y%m%d%H%M")
        (folder / f"raa01-ry_10000-{stamp}-dwd---bin").write_bytes(radolan_bytes("RY", raw, when=t))


def test_windows_skip_gaps_and_read_lazily(tmp_path: Path) -> None:
    times = [str(t) for t in pd.date_range("2024-07-01T12:00", periods=12, freq="5min")]
    del times[6]  # a gap at 12:30
    write_frames(tmp_path, times)
    (tmp_path / "notes.txt").write_text("not radar")
    index = index_frames(tmp_path)
    assert len(index) == 11
    windows = Windows(index, t_in=2, t_out=2)
    # runs of 4 consecutive frames: 12:00..12:25 gives 3, 12:35..12:55 gives 2
    assert [t.strftime("%H:%M") for t in windows.times] == [
        "12:00",
        "12:05",
        "12:10",
        "12:35",
        "12:40",
    ]
    first = windows[0]
    assert first.shape == (4, 900, 900) and first.dtype == np.float32
    np.testing.assert_allclose(first[:, 0, 0], [0, 0.12, 0.24, 0.36], atol=1e-6)
    with pytest.raises(IndexError):
        windows[5]


def test_windows_from_netcdf_sequence_and_glob(tmp_path: Path) -> None:
    ds = synthetic_sequence(frames=10, height=16, width=16, seed=1)
    write_netcdf(ds, tmp_path / "seq.nc")
    windows = Windows(index_frames(str(tmp_path / "*.nc")), t_in=3, t_out=3)
    assert len(windows) == 5
    np.testing.assert_allclose(windows[2], ds["rainfall_rate"].values[2:8], atol=0.006)


def test_split_by_time_shares_no_frame(tmp_path: Path) -> None:
    times = [str(t) for t in pd.date_range("2024-07-01T00:00", periods=40, freq="5min")]
    write_frames(tmp_path, times)
    windows = Windows(index_frames(tmp_path), t_in=2, t_out=3)
    train, val, test = split_by_time(windows, (0.6, 0.2, 0.2))
    assert len(train) > len(val) > 0 and len(test) > 0
    frames = [
        {t for i in range(len(part)) for t in part.frame_times(i)} for part in (train, val, test)
    ]
    assert not frames[0] & frames[1] and not frames[1] & frames[2] and not frames[0] & frames[2]
    assert max(frames[0]) < min(frames[1]) and max(frames[1]) < min(frames[2])


def test_unreadable_files_are_listed(tmp_path: Path) -> None:
    write_frames(tmp_path, ["2024-07-01T12:00", "2024-07-01T12:05"])
    (tmp_path / "broken.bin").write_bytes(b"garbage" * 10)
    index = index_frames(tmp_path)
    assert len(index) == 2 and any("broken.bin" in s for s in index.attrs["skipped"])


def test_window_as_dataset(tmp_path: Path) -> None:
    ds = synthetic_sequence(frames=6, height=16, width=12, seed=1)
    write_netcdf(ds, tmp_path / "seq.nc")
    windows = Windows(index_frames(tmp_path), t_in=2, t_out=2)
    win = windows.dataset(1)
    assert win["rainfall_rate"].shape == (4, 16, 12)
    np.testing.assert_array_equal(win["x"].values, ds["x"].values)
    np.testing.assert_array_equal(win["time"].values, ds["time"].values[1:5])
