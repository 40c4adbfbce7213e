"""models.baselines: the classical nowcasts every model is compared with.

Each takes the input frames (t, y, x) in mm/h (NaN = no data) and returns (steps, y, x) mm/h:

* ``persistence`` (Eulerian): the last frame, unchanged;
* ``pysteps-extrapolation``: Lucas-Kanade motion from the last 3 frames, semi-Lagrangian
  advection of the last frame;
* ``pysteps-sprog``: S-PROG (cascade decomposition, AR(2) per level, no noise) on the same
  motion field, in dB as pysteps' examples do.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

import numpy as np

from models._pysteps import pysteps_module

ZERO_DB = -15.0  # dB value of "no rain" (pysteps' usual zerovalue)
RAIN_THRESHOLD = 0.1  # mm/h below which pysteps treats a pixel as dry


def persistence(frames: np.ndarray, steps: int) -> np.ndarray:
    return np.repeat(frames[-1:], steps, axis=0).astype(np.float32)


def _motion(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    motion = pysteps_module("pysteps.motion")
    transformation = pysteps_module("pysteps.utils.transformation")

    db, _ = transformation.dB_transform(
        np.nan_to_num(frames[-3:], nan=0.0), threshold=RAIN_THRESHOLD, zerovalue=ZERO_DB
    )
    velocity = motion.get_method("LK")(db, verbose=False)
    return db, velocity


def pysteps_extrapolation(frames: np.ndarray, steps: int) -> np.ndarray:
    nowcasts = pysteps_module("pysteps.nowcasts")

    _, velocity = _motion(frames)
    last = np.nan_to_num(frames[-1], nan=0.0)
    out = nowcasts.get_method("extrapolation")(last, velocity, steps)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def pysteps_sprog(frames: np.ndarray, steps: int) -> np.ndarray:
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


BASELINES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "persistence": persistence,
    "pysteps-extrapolation": pysteps_extrapolation,
    "pysteps-sprog": pysteps_sprog,
}
