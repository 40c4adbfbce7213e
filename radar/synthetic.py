"""radar.synthetic: advected, growing and decaying rain cells for fast tests and demos.

Each cell is an elliptical Gaussian of peak rate ``peak`` mm/h that moves with the common
wind plus its own drift and whose peak follows a life cycle (growth, maturity, decay). The
field is placed on a patch of the DE1200 grid, so everything downstream (projection, lat/lon,
NetCDF) sees a realistic radar sequence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.canonical import make_sequence

#: DE1200's projection (REFERENCE.md §6) without the false origin, as wradlib uses it.
DE1200_PROJ = "+proj=stere +lat_0=90 +lat_ts=60 +lon_0=10 +ellps=WGS84 +units=m +no_defs"
DE1200_UL = (-543196.835, -3622588.862)  # outer corner of the grid, metres


def synthetic_sequence(
    frames: int = 12,
    height: int = 128,
    width: int = 128,
    cells: int = 6,
    velocity: tuple[float, float] = (1.5, -0.8),
    pixel_m: float = 1000.0,
    cadence_minutes: int = 5,
    start: str = "2024-07-01T12:00",
    seed: int = 0,
    nodata_border: int = 0,
) -> xr.Dataset:
    """A canonical sequence of ``frames`` frames of moving, evolving rain cells.

    Parameters
    ----------
    velocity: (float, float)
        Common motion in pixels per frame, (dx east, dy south).
    nodata_border: int
        Width of a NaN frame around the field, to mimic the edge of radar coverage.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy = rng.uniform(0, height, cells)
    cx = rng.uniform(0, width, cells)
    sy = rng.uniform(0.04, 0.12, cells) * min(height, width) + 2
    sx = sy * rng.uniform(0.6, 1.6, cells)
    peak = rng.lognormal(np.log(8.0), 0.7, cells)
    drift = rng.normal(0, 0.3, (cells, 2))
    born = rng.uniform(-frames, frames, cells)  # frame of maximum intensity
    life = rng.uniform(frames * 0.5, frames * 2.0, cells)
    rain = np.zeros((frames, height, width), dtype=np.float32)
    for t in range(frames):
        for k in range(cells):
            px = cx[k] + t * (velocity[0] + drift[k, 0])
            py = cy[k] + t * (velocity[1] + drift[k, 1])
            amp = peak[k] * np.exp(-(((t - born[k]) / life[k]) ** 2))
            d2 = ((xx - px) / sx[k]) ** 2 + ((yy - py) / sy[k]) ** 2
            rain[t] += amp * np.exp(-0.5 * d2)
    rain[rain < 0.1] = 0.0
    if nodata_border:
        b = nodata_border
        rain[:, :b, :] = rain[:, -b:, :] = np.nan
        rain[:, :, :b] = rain[:, :, -b:] = np.nan
    x = DE1200_UL[0] + 400_000 + (np.arange(width) + 0.5) * pixel_m
    y = DE1200_UL[1] - 400_000 - (np.arange(height) + 0.5) * pixel_m
    times = pd.date_range(
        pd.Timestamp(start, tz="UTC"), periods=frames, freq=f"{cadence_minutes}min"
    )
    return make_sequence(
        rain,
        times,
        x,
        y,
        pyproj.CRS.from_proj4(DE1200_PROJ),
        {
            "source_product": "SYNTHETIC",
            "source_format": "synthetic",
            "source_units": "mm h-1",
            "institution": "ms-nowcast synthetic generator",
            "attribution": "synthetic data",
            "accutime_minutes": float(cadence_minutes),
            "synthetic_seed": seed,
        },
    )
