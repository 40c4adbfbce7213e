"""radar.probability: exceedance probabilities from one deterministic nowcast.

``P(rate >= threshold)`` at a pixel and lead time is the fraction of valid pixels at or above
the threshold in a square neighbourhood centred on it, whose half-width grows linearly with
lead time: the predictable scale of rain grows with lead (Germann and Zawadzki 2004 found
about 1 km per minute), so the forecast is trusted at ever coarser scales. pysteps'
``lagrangian_probability`` applies the same idea to an extrapolated field with a disk; here it
runs on the job's own forecast (already moved along the motion, so it is Lagrangian too) with a
box filter, whose cost does not depend on the radius (24 leads x 3 thresholds on a DE1200
frame in about 1 s, ``nowcast bench probability``).

The two parameters (:data:`RADIUS_KM`, :data:`RADIUS_KM_PER_MINUTE`) were fitted on validation
data only (MeteoSwiss 2017-01-31, 5 windows of 4 -> 24 frames, the shipped model) by
``nowcast evaluate --probabilistic --fit``, minimising the Brier score summed over 0.1, 1 and
5 mm/h and all leads on a grid of 4 x 6 values (``docs/probability/fit_mch_20170131.json``):
0 km at lead 0 growing by 0.7 km per minute (the Brier sum is flat within 1 % from 0.5 to 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import uniform_filter

#: Thresholds (mm/h) of the probabilities a result carries unless the client names others.
DEFAULT_THRESHOLDS = (0.1, 1.0, 5.0)
#: Half-width of the neighbourhood at lead 0 (km) and its growth (km per minute of lead).
RADIUS_KM = 0.0
RADIUS_KM_PER_MINUTE = 0.7


def radius_km(
    lead_minutes: float, offset: float = RADIUS_KM, slope: float = RADIUS_KM_PER_MINUTE
) -> float:
    """Half-width of the neighbourhood (km) at a lead time."""
    return max(0.0, offset + slope * float(lead_minutes))


def parse_thresholds(text: str | Sequence[float] | None) -> tuple[float, ...]:
    """Thresholds from ``"0.1,1,5"`` (or a sequence); sorted, positive, at most 8."""
    if text is None or text == "":
        return DEFAULT_THRESHOLDS
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise ValueError(
            f"thresholds must be numbers in mm/h, e.g. 0.1,1,5 (got {text!r})"
        ) from None
    if not values or len(values) > 8 or not all(0 < v < 1000 for v in values):
        raise ValueError("give 1 to 8 thresholds, each above 0 and below 1000 mm/h")
    return tuple(sorted(set(values)))


def exceedance(
    rain: np.ndarray,
    thresholds: Sequence[float],
    lead_minutes: Sequence[float],
    pixel_km: float,
    offset: float = RADIUS_KM,
    slope: float = RADIUS_KM_PER_MINUTE,
) -> np.ndarray:
    """Probabilities ``[threshold, lead, y, x]`` (float32 in [0, 1], NaN where ``rain`` is).

    ``rain`` is ``[lead, y, x]`` in mm/h (NaN = no data); no-data pixels count neither as rain
    nor as dry, so a neighbourhood at the coverage edge uses its valid pixels only.
    """
    rain = np.asarray(rain, dtype=np.float32)
    if rain.ndim != 3 or len(lead_minutes) != rain.shape[0]:
        raise ValueError("rain must be [lead, y, x] with one lead time per frame")
    order = np.argsort(thresholds)[::-1]  # highest first, for the monotone step below
    out = np.empty((len(thresholds), *rain.shape), dtype=np.float32)
    for k, (frame, lead) in enumerate(zip(rain, lead_minutes, strict=True)):
        ok = np.isfinite(frame)
        wet = np.where(ok, frame, -np.inf)
        size = 2 * int(round(radius_km(lead, offset, slope) / pixel_km)) + 1
        share, *hits = (
            uniform_filter(m.astype(np.float32), size, mode="constant")
            for m in [ok, *(wet >= t for t in thresholds)]
        )
        above = None
        for j in order:
            with np.errstate(invalid="ignore", divide="ignore"):
                p = np.clip(hits[j] / share, 0.0, 1.0)
            # a lower threshold is met wherever a higher one is; box sums keep that up to
            # rounding only (done per lead: on the whole array it cost seconds on DE1200)
            out[j, k] = p if above is None else np.maximum(p, above)
            above = out[j, k]
        out[:, k][:, ~ok] = np.nan
    return out
