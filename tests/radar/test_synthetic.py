"""Synthetic rain: canonical, moving with the given wind, with growth and decay."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from radar.canonical import check_sequence
from radar.synthetic import synthetic_sequence


def test_synthetic_is_canonical_and_reproducible() -> None:
    a = synthetic_sequence(frames=6, height=48, width=40, seed=7)
    b = synthetic_sequence(frames=6, height=48, width=40, seed=7)
    check_sequence(a)
    np.testing.assert_array_equal(a["rainfall_rate"].values, b["rainfall_rate"].values)
    assert a["rainfall_rate"].dtype == np.float32 and a.sizes["time"] == 6
    assert float(a["rainfall_rate"].max()) > 1.0


def test_cells_move_with_the_wind() -> None:
    ds = synthetic_sequence(frames=8, height=128, width=128, cells=1, velocity=(3.0, 2.0), seed=0)
    rain = ds["rainfall_rate"].values
    start = ndimage.center_of_mass(rain[0])
    end = ndimage.center_of_mass(rain[7])
    dy, dx = end[0] - start[0], end[1] - start[1]
    assert abs(dx - 21) < 4 and abs(dy - 14) < 4  # 7 steps of (3, 2) pixels plus a small drift


def test_intensity_evolves() -> None:
    ds = synthetic_sequence(frames=24, height=64, width=64, cells=8, seed=1)
    totals = ds["rainfall_rate"].sum(("y", "x")).values
    assert totals.max() > 1.2 * totals.min()


def test_nodata_border() -> None:
    ds = synthetic_sequence(frames=2, height=20, width=20, nodata_border=3)
    rain = ds["rainfall_rate"].values
    assert np.isnan(rain[:, :3]).all() and not np.isnan(rain[:, 3:-3, 3:-3]).any()
