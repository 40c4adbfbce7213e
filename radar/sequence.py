"""radar.sequence: many files (or archive members) -> one canonical sequence sorted by time.

Frames must share product and grid; duplicates and gaps are errors that name the offending
file, because a nowcast from silently misaligned frames is worse than no nowcast. A RADVOR
archive (25 members) becomes a forecast sequence with ``forecast_reference_time``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from radar.exceptions import SequenceError
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


def _grid_key(ds: xr.Dataset) -> tuple:
    x, y = ds["x"].values, ds["y"].values
    return (
        x.size,
        y.size,
        round(float(x[0]), 1),
        round(float(y[0]), 1),
        round(float(x[1] - x[0]), 3),
    )


def combine(frames: list[tuple[str, xr.Dataset]], allow_gaps: bool = False) -> xr.Dataset:
    """Concatenate (name, dataset) frames into one sequence, checking it is one sequence."""
    first_name, first = frames[0]
    product = first.attrs.get("source_product")
    grid = _grid_key(first)
    is_forecast = "forecast_reference_time" in first.coords
    times: dict[np.datetime64, str] = {}
    for name, ds in frames:
        if ds.attrs.get("source_product") != product:
            raise SequenceError(
                f"{name}: product {ds.attrs.get('source_product')} differs from {product} "
                f"of {first_name}; one sequence holds one product"
            )
        if _grid_key(ds) != grid:
            raise SequenceError(
                f"{name}: grid {ds.sizes['y']}x{ds.sizes['x']} differs from "
                f"{first.sizes['y']}x{first.sizes['x']} of {first_name}"
            )
        if ("forecast_reference_time" in ds.coords) != is_forecast:
            raise SequenceError(f"{name}: forecast and observed frames cannot be mixed")
        if (
            is_forecast
            and ds["forecast_reference_time"].values != first["forecast_reference_time"].values
        ):
            raise SequenceError(f"{name}: belongs to another forecast run than {first_name}")
        for t in ds["time"].values:
            if t in times:
                raise SequenceError(
                    f"{name}: duplicate time {pd.Timestamp(t).isoformat()} (also in {times[t]})"
                )
            times[t] = name

    ordered = sorted(frames, key=lambda item: item[1]["time"].values[0])
    if len(ordered) == 1:
        return ordered[0][1]
    data = xr.concat(
        [ds for _, ds in ordered],
        dim="time",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="override",
        combine_attrs="override",
    )
    if not allow_gaps:
        check_consecutive(data, [n for n, _ in ordered], first.attrs.get("accutime_minutes"))
    return data


def check_consecutive(
    ds: xr.Dataset, names: list[str], cadence_minutes: float | None = None
) -> None:
    """Raise :class:`SequenceError` naming the first file after a gap in time."""
    times = ds["time"].values
    steps = np.diff(times) / np.timedelta64(1, "m")
    if steps.size == 0:
        return
    expected = float(cadence_minutes) if cadence_minutes else float(steps.min())
    for i, step in enumerate(steps):
        if abs(step - expected) > 1e-6:
            raise SequenceError(
                f"{names[i + 1]}: times are not consecutive: {step:g} min after "
                f"{pd.Timestamp(times[i]).isoformat()} where {expected:g} min was expected"
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
