"""models.metrics: verification scores per lead time, accumulated over many forecasts.

Numpy and pysteps only (no torch), so ONNX models and classical baselines are scored by the
same code. Conventions (REFERENCE.md §5):

* categorical scores (CSI, POD, FAR, HSS, and the frequency bias BIAS = forecast yes / observed
  yes) at rain-rate thresholds in mm/h from contingency tables summed over all forecasts per
  lead time (pysteps' ``det_cat_fct``);
* MAE, and B-MSE / B-MAE with weights by the *observed* rate (1 below 2 mm/h, 2 below 5, 5 below
  10, 10 below 30, 30 above), in mm/h, averaged over pixels and forecasts;
* FSS at one threshold for several window sizes (pysteps' ``fss``);
* SSIM on the pixel-space fields (Gaussian window 11 px, sigma 1.5, data range 1).

Pixels where the observation is missing are left out of every score; a forecast's missing
pixels (e.g. rain advected in from outside the domain) count as no rain.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from radar._pysteps import pysteps_module
from radar.transforms import rain_to_pixel

THRESHOLDS = (0.5, 1.0, 5.0, 10.0, 30.0)
FSS_SCALES = (1, 5, 11, 21)
BALANCE_EDGES = (2.0, 5.0, 10.0, 30.0)
BALANCE_WEIGHTS = (1.0, 2.0, 5.0, 10.0, 30.0)
CATEGORICAL = ("CSI", "POD", "FAR", "HSS", "BIAS")


def balance_weights(observed: np.ndarray) -> np.ndarray:
    """B-MSE/B-MAE weight of each pixel from its observed rain rate."""
    idx = np.digitize(np.nan_to_num(observed, nan=0.0), BALANCE_EDGES)
    return np.asarray(BALANCE_WEIGHTS, dtype=np.float64)[idx]


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean structural similarity of two [0, 1] images (Gaussian window 11, sigma 1.5)."""
    c1, c2 = 0.01**2, 0.03**2
    a = a.astype(np.float64)
    b = b.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(s[mask].mean() if mask is not None else s.mean())


class SkillScores:
    """Accumulate scores of (steps, y, x) forecasts against observations, per lead time."""

    def __init__(
        self,
        steps: int,
        cadence_minutes: float = 5,
        thresholds: tuple[float, ...] = THRESHOLDS,
        fss_threshold: float = 1.0,
        fss_scales: tuple[int, ...] = FSS_SCALES,
    ) -> None:
        self._cat = pysteps_module("pysteps.verification.detcatscores")
        self._spatial = pysteps_module("pysteps.verification.spatialscores")
        self.steps = steps
        self.cadence = cadence_minutes
        self.thresholds = thresholds
        self.fss_threshold = fss_threshold
        self.fss_scales = fss_scales
        self.contabs = [[self._cat.det_cat_fct_init(t) for t in thresholds] for _ in range(steps)]
        self.fss = [
            [self._spatial.fss_init(fss_threshold, s) for s in fss_scales] for _ in range(steps)
        ]
        self.abs_sum = np.zeros(steps)
        self.babs_sum = np.zeros(steps)
        self.bsq_sum = np.zeros(steps)
        self.pixels = np.zeros(steps)
        self.ssim_sum = np.zeros(steps)
        self.count = 0

    def add(self, forecast: np.ndarray, observed: np.ndarray) -> None:
        """Add one forecast (steps, y, x) and its verifying observations, both in mm/h."""
        if forecast.shape != observed.shape or forecast.shape[0] != self.steps:
            raise ValueError(f"forecast {forecast.shape} and observation {observed.shape} differ")
        for k in range(self.steps):
            obs = observed[k]
            valid = np.isfinite(obs)
            if not valid.any():
                continue
            fc = np.nan_to_num(forecast[k], nan=0.0)
            f, o = fc[valid], obs[valid]
            for table in self.contabs[k]:
                self._cat.det_cat_fct_accum(table, f, o)
            fc_masked = np.where(valid, fc, np.nan)
            for score in self.fss[k]:
                self._spatial.fss_accum(score, fc_masked, np.where(valid, obs, np.nan))
            err = f - o
            weight = balance_weights(o)
            self.abs_sum[k] += np.abs(err).sum()
            self.babs_sum[k] += (weight * np.abs(err)).sum()
            self.bsq_sum[k] += (weight * err**2).sum()
            self.pixels[k] += valid.sum()
            self.ssim_sum[k] += ssim(
                rain_to_pixel(fc), rain_to_pixel(np.where(valid, obs, 0.0)), valid
            )
        self.count += 1

    @property
    def lead_minutes(self) -> list[float]:
        return [self.cadence * (k + 1) for k in range(self.steps)]

    def _score(self, lead: int, index: int, name: str) -> float:
        return float(self._cat.det_cat_fct_compute(self.contabs[lead][index], name)[name])

    def result(self) -> dict:
        """Scores per lead time: ``{"lead_minutes": [...], "CSI": {"1.0": [...]}, ...}``."""
        out: dict = {"lead_minutes": self.lead_minutes, "forecasts": self.count}
        with np.errstate(invalid="ignore", divide="ignore"):  # no events -> NaN, as it should
            for name in CATEGORICAL:
                out[name] = {
                    str(t): [_finite_or_nan(self._score(k, i, name)) for k in range(self.steps)]
                    for i, t in enumerate(self.thresholds)
                }
        pixels = np.maximum(self.pixels, 1)
        out["MAE"] = (self.abs_sum / pixels).tolist()
        out["B-MAE"] = (self.babs_sum / pixels).tolist()
        out["B-MSE"] = (self.bsq_sum / pixels).tolist()
        out["SSIM"] = (self.ssim_sum / max(self.count, 1)).tolist()
        out["FSS"] = {
            str(s): [float(self._spatial.fss_compute(self.fss[k][i])) for k in range(self.steps)]
            for i, s in enumerate(self.fss_scales)
        }
        out["fss_threshold"] = self.fss_threshold
        return out


def _finite_or_nan(value: float) -> float:
    # BIAS is x/0 = inf when rain was forecast but none observed: undefined like the other
    # no-event scores, and inf would poison the lead means and is not valid JSON either
    return value if np.isfinite(value) else float("nan")


def mean_over_leads(values: list[float], lead_minutes: list[float], max_lead: float = 60) -> float:
    """Average of a per-lead score over leads up to ``max_lead`` minutes (NaN-aware)."""
    picked = [v for v, lead in zip(values, lead_minutes, strict=True) if lead <= max_lead]
    arr = np.asarray(picked, dtype=np.float64)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")
