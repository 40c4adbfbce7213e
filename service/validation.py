"""service.validation: the gateway's cheap checks of an upload, answered at once with a 4xx.

Only headers are read here (format, product, times, grid: :mod:`radar.headers`); the full
decode happens in the worker, which repeats every check on the real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radar.exceptions import FormatError, RadarError, SizeLimitError
from radar.headers import FrameInfo, describe
from radar.sources import Blob, load
from service.errors import ApiError
from workers.seam import ModelInfo


def frame_infos(files: list[tuple[str, bytes]]) -> list[FrameInfo]:
    """Describe every uploaded file (archives: every member); 4xx on unreadable input."""
    if not files:
        raise ApiError(
            400, "no_files", "no frames uploaded: send one multipart field 'frames' per file"
        )
    infos: list[FrameInfo] = []
    for name, data in files:
        try:
            for blob in load(Blob(name, data)):
                infos.append(describe(blob))
        except SizeLimitError as exc:
            raise ApiError(413, "too_large", str(exc)) from None
        except FormatError as exc:
            code = (
                "unsupported_format"
                if "unknown format" in str(exc) or "empty" in str(exc)
                else "bad_frames"
            )
            raise ApiError(415 if code == "unsupported_format" else 422, code, str(exc)) from None
        except RadarError as exc:
            raise ApiError(422, "bad_frames", str(exc)) from None
    return infos


def check_sequence(infos: list[FrameInfo], model: ModelInfo) -> dict:
    """Check that the frames can feed ``model``; returns a summary (product, grid, count)."""
    first = infos[0]
    for info in infos[1:]:
        if info.shape != first.shape:
            raise ApiError(
                422,
                "mixed_grids",
                f"{info.name}: grid {info.shape[0]}x{info.shape[1]} differs from "
                f"{first.shape[0]}x{first.shape[1]} of {first.name}",
            )
        if info.product != first.product:
            raise ApiError(
                422,
                "mixed_products",
                f"{info.name}: product {info.product} differs from {first.product} of {first.name}",
            )
    times = sorted((t, info.name) for info in infos for t in info.times)
    for (a, _), (b, name) in zip(times, times[1:], strict=False):
        if a == b:
            raise ApiError(
                422, "not_consecutive", f"{name}: duplicate time {pd.Timestamp(b).isoformat()}"
            )
    if len(times) < model.t_in:
        raise ApiError(
            422,
            "too_few_frames",
            f"need at least {model.t_in} frames for model {model.name}, got {len(times)}",
        )
    # the worker reads the whole upload as one sequence, so every step must be the cadence
    steps = np.diff([t for t, _ in times]) / pd.Timedelta(minutes=1)
    for step, (_, name) in zip(steps, times[1:], strict=True):
        if abs(step - model.cadence_minutes) > 1e-6:
            raise ApiError(
                422,
                "not_consecutive",
                f"{name}: times are not consecutive: {step:g} min where model {model.name} "
                f"needs {model.cadence_minutes:g} min",
            )
    return {
        "product": first.product,
        "grid": f"{first.shape[0]}x{first.shape[1]}",
        "frames": len(times),
    }
