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
from scipy.ndimage import gaussian_filter, uniform_filter

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


def _blur(x: np.ndarray) -> np.ndarray:
    return gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")


def _ssim_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and variance of a [0, 1] image in SSIM's Gaussian window."""
    x = x.astype(np.float64)
    mu = _blur(x)
    return mu, _blur(x * x) - mu**2


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    mask: np.ndarray | None = None,
    moments_b: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Mean structural similarity of two [0, 1] images (Gaussian window 11, sigma 1.5);
    ``moments_b`` are ``b``'s local mean and variance when already known."""
    c1, c2 = 0.01**2, 0.03**2
    a = a.astype(np.float64)
    b = b.astype(np.float64, copy=False)
    mu_a, var_a = _ssim_moments(a)
    mu_b, var_b = moments_b or _ssim_moments(b)
    cov = _blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(s[mask].mean() if mask is not None else s.mean())


def _fractions(binary: np.ndarray, scale: int) -> np.ndarray:
    """Fraction of wet pixels in a ``scale`` x ``scale`` window, as pysteps' ``fss_accum``
    computes it (zeros beyond the edge)."""
    binary = binary.astype(np.float64)
    return uniform_filter(binary, size=scale, mode="constant", cval=0.0) if scale > 1 else binary


class ObservedWindow:
    """The observation side of every score of one window (steps, y, x) in mm/h, computed once
    and shared by all the methods scored on that window (:func:`models.evaluation.evaluate`):
    masks, wet fractions per FSS scale and SSIM moments would otherwise be recomputed for each
    method, and were most of the cost of an evaluation."""

    def __init__(
        self, observed: np.ndarray, fss_threshold: float, fss_scales: tuple[int, ...]
    ) -> None:
        self.observed = observed
        self.leads = []
        for obs in observed:
            valid = np.isfinite(obs)
            if not valid.any():
                self.leads.append(None)
                continue
            wet = np.where(valid, obs, fss_threshold - 1) >= fss_threshold
            fractions = [_fractions(wet, scale) for scale in fss_scales]
            pixels = rain_to_pixel(np.where(valid, obs, 0.0)).astype(np.float64)
            self.leads.append(
                {
                    "valid": valid,
                    "values": obs[valid],
                    "fractions": fractions,
                    "fractions_sq": [float((f * f).sum()) for f in fractions],
                    "pixels": pixels,
                    "ssim": _ssim_moments(pixels),
                }
            )


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

    def observe(self, observed: np.ndarray) -> ObservedWindow:
        """The observation side of one window, for :meth:`add` (one per window suffices for
        every SkillScores with the same FSS threshold and scales)."""
        return ObservedWindow(observed, self.fss_threshold, self.fss_scales)

    def add(self, forecast: np.ndarray, observed: np.ndarray | ObservedWindow) -> None:
        """Add one forecast (steps, y, x) and its verifying observations, both in mm/h (or the
        observations as :meth:`observe` prepared them)."""
        window = observed if isinstance(observed, ObservedWindow) else self.observe(observed)
        if forecast.shape != window.observed.shape or forecast.shape[0] != self.steps:
            raise ValueError(
                f"forecast {forecast.shape} and observation {window.observed.shape} differ"
            )
        for k, obs in enumerate(window.leads):
            if obs is None:
                continue
            valid = obs["valid"]
            fc = np.nan_to_num(forecast[k], nan=0.0)
            f, o = fc[valid], obs["values"]
            for table in self.contabs[k]:
                self._cat.det_cat_fct_accum(table, f, o)
            # pysteps' fss_accum, with the observation's fractions computed once per window
            wet = np.where(valid, fc, self.fss_threshold - 1) >= self.fss_threshold
            for score, obs_frac, obs_sq in zip(
                self.fss[k], obs["fractions"], obs["fractions_sq"], strict=True
            ):
                frac = _fractions(wet, score["scale"])
                score["sum_obs_sq"] += obs_sq
                score["sum_fct_obs"] += float((frac * obs_frac).sum())
                score["sum_fct_sq"] += float((frac * frac).sum())
            err = f - o
            weight = balance_weights(o)
            self.abs_sum[k] += np.abs(err).sum()
            self.babs_sum[k] += (weight * np.abs(err)).sum()
            self.bsq_sum[k] += (weight * err**2).sum()
            self.pixels[k] += valid.sum()
            self.ssim_sum[k] += ssim(rain_to_pixel(fc), obs["pixels"], valid, obs["ssim"])
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
