"""Verification scores against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pysteps")

from models.metrics import SkillScores, balance_weights, mean_over_leads, ssim  # noqa: E402


def test_contingency_scores_by_hand() -> None:
    # one lead, 10 pixels: 3 hits, 1 miss, 2 false alarms, 4 correct negatives at 1 mm/h
    obs = np.array([2, 3, 4, 5, 0, 0, 0, 0, 0, 0], dtype=np.float32).reshape(1, 2, 5)
    fc = np.array([2, 3, 4, 0, 6, 7, 0, 0, 0, 0], dtype=np.float32).reshape(1, 2, 5)
    scores = SkillScores(1, thresholds=(1.0,), fss_scales=(1,))
    scores.add(fc, obs)
    r = scores.result()
    assert r["CSI"]["1.0"][0] == pytest.approx(3 / 6)
    assert r["POD"]["1.0"][0] == pytest.approx(3 / 4)
    assert r["FAR"]["1.0"][0] == pytest.approx(2 / 5)
    hss = 2 * (3 * 4 - 1 * 2) / ((3 + 1) * (1 + 4) + (3 + 2) * (2 + 4))
    assert r["HSS"]["1.0"][0] == pytest.approx(hss)
    assert r["MAE"][0] == pytest.approx((5 + 6 + 7) / 10)


def test_missing_observations_are_left_out_and_missing_forecast_is_dry() -> None:
    obs = np.array([[[2.0, np.nan, 0.0, 3.0]]])
    fc = np.array([[[2.0, 9.0, 0.0, np.nan]]])
    scores = SkillScores(1, thresholds=(1.0,), fss_scales=(1,))
    scores.add(fc, obs)
    r = scores.result()
    assert r["POD"]["1.0"][0] == pytest.approx(0.5)  # the NaN forecast at 3 mm/h is a miss
    assert r["MAE"][0] == pytest.approx(3 / 3)  # 3 valid pixels, one error of 3 mm/h


def test_counts_are_summed_before_the_ratio() -> None:
    scores = SkillScores(1, thresholds=(1.0,), fss_scales=(1,))
    scores.add(np.array([[[2.0, 2.0]]]), np.array([[[2.0, 0.0]]]))  # CSI 1/2 alone
    scores.add(
        np.array([[[2.0, 0.0, 0.0, 0.0]]]).reshape(1, 1, 4)[:, :, :2], np.array([[[2.0, 2.0]]])
    )
    assert scores.result()["CSI"]["1.0"][0] == pytest.approx(2 / 4)  # not mean(1/2, 1/2)


def test_balance_weights() -> None:
    w = balance_weights(np.array([0.0, 1.99, 2.0, 4.9, 5.0, 9.9, 10.0, 29.9, 30.0, 100.0]))
    assert w.tolist() == [1, 1, 2, 2, 5, 5, 10, 10, 30, 30]


def test_perfect_forecast() -> None:
    rng = np.random.default_rng(0)
    obs = rng.gamma(0.5, 3.0, size=(3, 32, 32)).astype(np.float32)
    scores = SkillScores(3)
    scores.add(obs.copy(), obs)
    r = scores.result()
    assert r["CSI"]["1.0"] == [1.0, 1.0, 1.0] and r["MAE"] == [0.0, 0.0, 0.0]
    assert r["FSS"]["5"] == pytest.approx([1.0] * 3) and r["SSIM"] == pytest.approx([1.0] * 3)


def test_ssim_drops_for_shifted_structure() -> None:
    img = np.zeros((40, 40))
    img[10:20, 10:20] = 0.8
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, np.roll(img, 6, axis=1)) < 0.9


def test_mean_over_leads() -> None:
    assert mean_over_leads([1, 2, 3, 4], [30, 60, 90, 120]) == pytest.approx(1.5)
    assert np.isnan(mean_over_leads([np.nan], [5]))


def test_frequency_bias_is_forecast_area_over_observed_area() -> None:
    # lead 1: 4 pixels above 1 mm/h observed, 6 forecast; lead 2: the forecast is too small
    obs = np.zeros((2, 4, 4), dtype=np.float32)
    fc = np.zeros_like(obs)
    obs[0, :2, :2] = 3.0
    fc[0, 1:3, 1:4] = 6.0
    obs[1, :, :3] = 8.0
    fc[1, :2, :2] = 2.0
    scores = SkillScores(2, thresholds=(1.0, 5.0), fss_scales=(1,))
    scores.add(fc, obs)
    bias = scores.result()["BIAS"]
    for t in (1.0, 5.0):
        for k in range(2):
            expected = (fc[k] > t).sum() / (obs[k] > t).sum() if (obs[k] > t).any() else np.nan
            assert bias[str(t)][k] == pytest.approx(expected, nan_ok=True)
    assert bias["1.0"][0] == pytest.approx(6 / 4)  # the case as constructed


def test_frequency_bias_without_observed_rain_is_nan_not_inf() -> None:
    scores = SkillScores(1, thresholds=(1.0,), fss_scales=(1,))
    scores.add(np.array([[[2.0, 0.0]]]), np.array([[[0.0, 0.0]]]))
    assert np.isnan(scores.result()["BIAS"]["1.0"][0])


def test_fss_and_ssim_agree_with_pysteps_and_with_a_shared_observed_window() -> None:
    from scipy.ndimage import gaussian_filter

    from radar._pysteps import pysteps_module
    from radar.transforms import rain_to_pixel

    spatial = pysteps_module("pysteps.verification.spatialscores")
    rng = np.random.default_rng(3)
    obs = rng.gamma(0.3, 3.0, (3, 60, 70)).astype(np.float32)
    obs[:, :5] = np.nan  # outside the radar
    forecasts = [rng.gamma(0.3, 3.0, (3, 60, 70)).astype(np.float32) for _ in range(2)]
    forecasts[0][:, 20:30] = np.nan  # rain advected in from outside: no forecast
    shared = SkillScores(3)
    window = shared.observe(obs)
    for fc in forecasts:
        alone, prepared = SkillScores(3), SkillScores(3)
        alone.add(fc, obs)
        prepared.add(fc, window)
        assert _leaves(alone.result()).keys() == _leaves(prepared.result()).keys()
        for key, value in _leaves(alone.result()).items():
            np.testing.assert_array_equal(value, _leaves(prepared.result())[key], err_msg=key)
    for fc in forecasts:
        shared.add(fc, window)
    result = shared.result()
    for scale in shared.fss_scales:  # pysteps' own accumulation
        for k in range(3):
            ref = spatial.fss_init(1.0, scale)
            for fc in forecasts:
                valid = np.isfinite(obs[k])
                fc_k = np.where(valid, np.nan_to_num(fc[k]), np.nan)
                spatial.fss_accum(ref, fc_k, np.where(valid, obs[k], np.nan))
            assert result["FSS"][str(scale)][k] == pytest.approx(spatial.fss_compute(ref), 1e-12)
    # SSIM written out for one pair: Gaussian window sigma 1.5, pixel space, valid pixels
    a = rain_to_pixel(np.nan_to_num(forecasts[1][0])).astype(np.float64)
    b = rain_to_pixel(np.nan_to_num(obs[0])).astype(np.float64)

    def blur(x):
        return gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + 1e-4) * (2 * cov + 9e-4)) / (
        (mu_a**2 + mu_b**2 + 1e-4) * (blur(a * a) - mu_a**2 + blur(b * b) - mu_b**2 + 9e-4)
    )
    one = SkillScores(3)
    one.add(forecasts[1], obs)
    assert one.result()["SSIM"][0] == pytest.approx(s[np.isfinite(obs[0])].mean(), 1e-12)


def _leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out
