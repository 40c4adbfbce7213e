"""Pixel transform and Z-R law against the figures of REFERENCE.md §5."""

from __future__ import annotations

import numpy as np
import pytest

from radar.transforms import (
    dbz_to_rain,
    pixel_to_rain,
    rain_to_dbz,
    rain_to_pixel,
)


@pytest.mark.parametrize(
    "rain, pixel", [(0.5, 0.4258), (2, 0.5480), (5, 0.6287), (10, 0.6897), (30, 0.7865)]
)
def test_paper_thresholds(rain: float, pixel: float) -> None:
    # the pixel values of the paper's rain-rate thresholds (REFERENCE.md §5)
    assert rain_to_pixel(np.array([rain], dtype=np.float32))[0] == pytest.approx(pixel, abs=1e-4)


def test_zero_nan_and_saturation() -> None:
    p = rain_to_pixel(np.array([0.0, np.nan, 338.0, 1000.0], dtype=np.float32))
    assert p[0] == 0 and np.isnan(p[1])
    assert p[2] == pytest.approx(1.0, abs=1e-3) and p[3] == 1.0
    assert pixel_to_rain(np.array([1.0]))[0] == pytest.approx(338, rel=0.01)  # 60 dBZ


def test_inverse_round_trip() -> None:
    rain = np.geomspace(0.01, 300, 50).astype(np.float32)
    np.testing.assert_allclose(pixel_to_rain(rain_to_pixel(rain)), rain, rtol=1e-4)
    assert pixel_to_rain(np.array([0.0, -0.1]))[0] == 0.0
    assert np.isnan(pixel_to_rain(np.array([np.nan]))[0])


def test_zr_law() -> None:
    assert rain_to_dbz(np.array([1.0]))[0] == pytest.approx(10 * np.log10(256), abs=1e-4)
    np.testing.assert_allclose(
        dbz_to_rain(rain_to_dbz(np.array([0.3, 7.0, 42.0]))), [0.3, 7.0, 42.0], rtol=1e-5
    )
