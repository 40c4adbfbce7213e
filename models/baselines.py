"""models.baselines: the classical nowcasts every model is compared with.

Each takes the input frames (t, y, x) in mm/h (NaN = no data) and returns (steps, y, x) mm/h;
the keywords ``pixel_m`` (grid spacing) and ``cadence_minutes`` (time between frames) describe
the grid for the baselines that need it and are ignored by the others:

* ``persistence`` (Eulerian): the last frame, unchanged;
* ``pysteps-extrapolation``: Lucas-Kanade motion from the last 3 frames, semi-Lagrangian
  advection of the last frame;
* ``pysteps-sprog``: S-PROG (cascade decomposition, AR(2) per level, no noise) on the same
  motion field, in dB as pysteps' examples do;
* ``lk-gauss``: the extrapolation, each lead blurred by a Gaussian that widens with lead time
  (see :func:`lk_gauss`).

Motion comes from :func:`radar.motion.estimate_motion`, the function the advection-aware models
and the workers use, so every method that needs motion sees the same field.
"""

from __future__ import annotations

import contextlib
import io
from typing import Protocol

import numpy as np
from scipy.ndimage import gaussian_filter

from radar._pysteps import pysteps_module
from radar.motion import RAIN_THRESHOLD, ZERO_DB, estimate_motion, to_db

MOTION_METHOD = "lk"
MOTION_FRAMES = 3  # S-PROG's AR(2) needs 3 frames too
DEFAULT_PIXEL_M = 1000.0
DEFAULT_CADENCE_MINUTES = 5.0
#: Gaussian width per minute of lead in km: a fifth of the ~1 km/min growth of the
#: predictability scale found by Germann and Zawadzki (2004), fixed a priori, not fitted.
GAUSS_KM_PER_MINUTE = 0.2


class Baseline(Protocol):
    def __call__(
        self,
        frames: np.ndarray,
        steps: int,
        *,
        pixel_m: float = DEFAULT_PIXEL_M,
        cadence_minutes: float = DEFAULT_CADENCE_MINUTES,
    ) -> np.ndarray: ...


def persistence(frames: np.ndarray, steps: int, **_grid: float) -> np.ndarray:
    return np.repeat(frames[-1:], steps, axis=0).astype(np.float32)


def _motion(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dB fields of the frames the motion is estimated from, and the motion (2, y, x)."""
    velocity = estimate_motion(frames, MOTION_METHOD, MOTION_FRAMES)
    return to_db(frames[-MOTION_FRAMES:]), velocity


def pysteps_extrapolation(frames: np.ndarray, steps: int, **_grid: float) -> np.ndarray:
    nowcasts = pysteps_module("pysteps.nowcasts")

    _, velocity = _motion(frames)
    last = np.nan_to_num(frames[-1], nan=0.0)
    out = nowcasts.get_method("extrapolation")(last, velocity, steps)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def lk_gauss(
    frames: np.ndarray,
    steps: int,
    *,
    pixel_m: float = DEFAULT_PIXEL_M,
    cadence_minutes: float = DEFAULT_CADENCE_MINUTES,
) -> np.ndarray:
    """LK extrapolation with lead k (k * ``cadence_minutes`` minutes) blurred by a Gaussian.

    Rule: sigma = 0.2 km per minute of lead (:data:`GAUSS_KM_PER_MINUTE`), in pixels
    ``sigma_km * 1000 / pixel_m``, applied to the rain rate in mm/h with scipy's
    ``gaussian_filter`` (reflecting edges, so rain near the border is not diluted). At 1 km
    pixels and 5-min cadence: 1 px at 5 min, 12 px at 60 min, 24 px at 120 min. Blurring
    removes the scales an extrapolation cannot predict any more; Germann and Zawadzki (2004)
    found the predictability scale grows about 1 km per minute of lead, and a sigma of a fifth
    of it keeps the blur well inside that scale. The rule is physical, not tuned on any data.
    """
    out = pysteps_extrapolation(frames, steps)
    for k in range(steps):
        sigma_px = GAUSS_KM_PER_MINUTE * cadence_minutes * (k + 1) * 1000.0 / pixel_m
        out[k] = gaussian_filter(out[k], sigma_px, mode="reflect")
    return out


def pysteps_sprog(frames: np.ndarray, steps: int, **_grid: float) -> np.ndarray:
    nowcasts = pysteps_module("pysteps.nowcasts")
    transformation = pysteps_module("pysteps.utils.transformation")

    db, velocity = _motion(frames)
    if not (db > ZERO_DB).any():  # S-PROG needs some rain to decompose
        return np.zeros((steps, *frames.shape[1:]), dtype=np.float32)
    with contextlib.redirect_stdout(io.StringIO()):  # pysteps prints a report per call
        out = nowcasts.get_method("sprog")(
            db, velocity, steps, precip_thr=10 * np.log10(RAIN_THRESHOLD), n_cascade_levels=6
        )
    rain, _ = transformation.dB_transform(
        out, threshold=10 * np.log10(RAIN_THRESHOLD), inverse=True
    )
    return np.nan_to_num(rain, nan=0.0).astype(np.float32)


BASELINES: dict[str, Baseline] = {
    "persistence": persistence,
    "pysteps-extrapolation": pysteps_extrapolation,
    "pysteps-sprog": pysteps_sprog,
    "lk-gauss": lk_gauss,
}
