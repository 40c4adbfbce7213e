"""radar.sequence: many files (or archive members) -> one canonical sequence sorted by time.

Frames must share product and grid; duplicates and gaps are errors that name the offending
file, because a nowcast from silently misaligned frames is worse than no nowcast
(:func:`check_frames`, the same checks the gateway runs on headers). A RADVOR
archive (25 members) becomes a forecast sequence with ``forecast_reference_time``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from radar.exceptions import SequenceError
from radar.headers import FrameInfo
from radar.interface import read_blob
from radar.sources import Blob, load

Source = str | os.PathLike | bytes | Blob


def read_frames(sources: Iterable[Source], keep_dbz: bool = False) -> list[tuple[str, xr.Dataset]]:
    """Read every source (file, bytes, tar archive) into (name, dataset) pairs."""
    frames = []
    for source in sources:
        for blob in load(source):
            frames.append((blob.name, read_blob(blob, keep_dbz=keep_dbz)))
    if not frames:
        raise SequenceError("no radar frames given")
    return frames


def check_frames(
    frames: Sequence[FrameInfo], allow_gaps: bool = False, cadence_minutes: float | None = None
) -> None:
    """Raise :class:`SequenceError` unless ``frames`` can form one sequence: one grid, one
    product, no time twice and (unless ``allow_gaps``) one step between all times, the
    product's ``cadence_minutes`` or else the smallest step. Every error names the offending
    file.

    The one place of these checks: the gateway runs them on headers (:mod:`radar.headers`),
    :func:`combine` on decoded frames.
    """
    first = frames[0]
    seen: dict = {}
    for info in frames:
        if (info.grid or info.shape) != (first.grid or first.shape):
            raise SequenceError(
                f"{info.name}: grid {info.shape[0]}x{info.shape[1]} differs from "
                f"{first.shape[0]}x{first.shape[1]} of {first.name}",
                "mixed_grids",
            )
        if info.product != first.product:
            raise SequenceError(
                f"{info.name}: product {info.product} differs from {first.product} "
                f"of {first.name}; one sequence holds one product",
                "mixed_products",
            )
        for t in info.times:
            t = np.datetime64(pd.Timestamp(t), "ns")
            if t in seen:
                raise SequenceError(
                    f"{info.name}: duplicate time {pd.Timestamp(t).isoformat()} (also in {seen[t]})"
                )
            seen[t] = info.name
    if allow_gaps or len(seen) < 2:
        return
    times = sorted(seen)
    steps = np.diff(np.array(times)) / np.timedelta64(1, "m")
    expected = float(cadence_minutes) if cadence_minutes else float(steps.min())
    for i, step in enumerate(steps):
        if abs(step - expected) > 1e-6:
            raise SequenceError(
                f"{seen[times[i + 1]]}: times are not consecutive: {step:g} min after "
                f"{pd.Timestamp(times[i]).isoformat()} where {expected:g} min was expected"
            )


def _frame_info(name: str, ds: xr.Dataset) -> FrameInfo:
    x, y = ds["x"].values, ds["y"].values
    grid = (x.size, y.size, round(float(x[0]), 1), round(float(y[0]), 1))
    grid += (round(float(x[1] - x[0]), 3),) if x.size > 1 else ()
    return FrameInfo(
        name,
        str(ds.attrs.get("source_format", "")),
        ds.attrs.get("source_product"),
        tuple(ds["time"].values),
        (ds.sizes["y"], ds.sizes["x"]),
        grid,
    )


def combine(frames: list[tuple[str, xr.Dataset]], allow_gaps: bool = False) -> xr.Dataset:
    """Concatenate (name, dataset) frames into one sequence, checking it is one sequence."""
    first_name, first = frames[0]
    check_frames(
        [_frame_info(name, ds) for name, ds in frames],
        allow_gaps,
        first.attrs.get("accutime_minutes"),
    )
    is_forecast = "forecast_reference_time" in first.coords
    for name, ds in frames:
        if ("forecast_reference_time" in ds.coords) != is_forecast:
            raise SequenceError(
                f"{name}: forecast and observed frames cannot be mixed", "mixed_runs"
            )
        if (
            is_forecast
            and ds["forecast_reference_time"].values != first["forecast_reference_time"].values
        ):
            raise SequenceError(
                f"{name}: belongs to another forecast run than {first_name}", "mixed_runs"
            )
    ordered = sorted(frames, key=lambda item: item[1]["time"].values[0])
    if len(ordered) == 1:
        return ordered[0][1]
    return xr.concat(
        [ds for _, ds in ordered],
        dim="time",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="override",
        combine_attrs="override",
    )


def read_sequence(
    sources: Iterable[Source] | Source, allow_gaps: bool = False, keep_dbz: bool = False
) -> xr.Dataset:
    """Read radar files into one canonical sequence (the main entry point of the data layer).

    Parameters
    ----------
    sources: path, bytes, Blob, or an iterable of them
        RADOLAN binary (.gz/.bz2), ODIM_H5, CF-NetCDF, or tar archives of those.
    allow_gaps: bool
        Accept missing frames (for archives); by default a gap is an error.
    keep_dbz: bool
        Keep the dBZ field of reflectivity products as ``reflectivity``.
    """
    if isinstance(sources, str | os.PathLike | bytes | Blob):
        sources = [sources]
    frames = read_frames(sources, keep_dbz=keep_dbz)
    return combine(frames, allow_gaps=allow_gaps)
