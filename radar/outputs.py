"""radar.outputs: what a nowcast result becomes for its users, all from the same dataset.

* :func:`subset_bbox` cuts a sequence to a lat/lon box (every output takes ``bbox=``);
* :func:`add_probability` adds ``probability_of_exceedance`` (threshold, time, y, x);
* :func:`with_observations` keeps the last observed frames beside the forecast, so that a
  viewer can play observation then nowcast from the one result;
* :func:`write_geotiff` writes one band per lead (and per threshold for probabilities) with the
  grid's CRS and geotransform (rasterio);
* :func:`point_forecast` is the time series at a place, in the shape Open-Meteo clients know.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.exceptions import RadarError
from radar.grids import dataset_crs, locate, pixel_size
from radar.probability import exceedance

#: Observed frames a result keeps for display (20 minutes at the DWD cadence).
OBSERVED_FRAMES = 4
PROBABILITY = "probability_of_exceedance"
OBSERVED = "observed_rainfall_rate"


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"west,south,east,north"`` in degrees (the order of GeoJSON and OGC API bbox)."""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"bbox must be west,south,east,north in degrees, e.g. 6,47,15,55 (got {text!r})"
        ) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError("bbox needs -180 <= west < east <= 180 and -90 <= south < north <= 90")
    return west, south, east, north


def subset_bbox(ds: xr.Dataset, bbox: tuple[float, float, float, float]) -> xr.Dataset:
    """The grid rectangle of the pixels that the projected outline of a lat/lon box touches.

    The box's edges are sampled densely before projecting, because a parallel is curved on the
    polar stereographic grid.
    """
    west, south, east, north = bbox
    edge = np.linspace(0.0, 1.0, 64)
    lon = np.concatenate([west + (east - west) * edge, np.full(64, east),
                          east - (east - west) * edge, np.full(64, west)])  # fmt: skip
    lat = np.concatenate([np.full(64, south), south + (north - south) * edge,
                          np.full(64, north), north - (north - south) * edge])  # fmt: skip
    to_grid = pyproj.Transformer.from_crs("EPSG:4326", dataset_crs(ds), always_xy=True)
    px, py = to_grid.transform(lon, lat)
    x, y = ds["x"].values, ds["y"].values
    half = pixel_size(ds) / 2  # every pixel that the outline's rectangle touches
    cols = np.flatnonzero((x + half >= np.min(px)) & (x - half <= np.max(px)))
    rows = np.flatnonzero((y + half >= np.min(py)) & (y - half <= np.max(py)))
    if cols.size == 0 or rows.size == 0:
        raise RadarError(f"bbox {west},{south},{east},{north} does not overlap the grid")
    sub = ds.isel(x=slice(cols[0], cols[-1] + 1), y=slice(rows[0], rows[-1] + 1))
    sub.attrs["bbox"] = f"{west},{south},{east},{north}"
    return sub


def add_probability(ds: xr.Dataset, thresholds: Sequence[float]) -> xr.Dataset:
    """``ds`` with ``probability_of_exceedance`` [threshold, time, y, x] from its forecast."""
    ref = ds["forecast_reference_time"].values
    leads = (ds["time"].values - ref) / np.timedelta64(1, "m")
    prob = exceedance(ds["rainfall_rate"].values, thresholds, leads, pixel_size(ds) / 1000.0)
    out = ds.assign_coords(
        threshold=(
            "threshold",
            np.asarray(thresholds, dtype=np.float32),
            {"standard_name": "rainfall_rate", "units": "mm h-1", "long_name": "threshold"},
        )
    )
    out[PROBABILITY] = (
        ("threshold", "time", "y", "x"),
        prob,
        {
            "long_name": "probability of rainfall_rate >= threshold",
            "units": "1",
            "grid_mapping": ds["rainfall_rate"].attrs["grid_mapping"],
            "method": "neighbourhood of the deterministic nowcast, radius growing with lead "
            "(radar.probability)",
        },
    )
    if "coordinates" in ds["rainfall_rate"].attrs:
        out[PROBABILITY].attrs["coordinates"] = ds["rainfall_rate"].attrs["coordinates"]
    return out


def with_observations(
    forecast: xr.Dataset, observed: xr.Dataset, frames: int = OBSERVED_FRAMES
) -> xr.Dataset:
    """The forecast plus the last ``frames`` observed frames as ``observed_rainfall_rate``
    on its own time axis ``observed_time`` (the forecast's time axis stays the valid times)."""
    obs = observed["rainfall_rate"].isel(time=slice(-frames, None))
    if obs.shape[1:] != forecast["rainfall_rate"].shape[1:]:
        return forecast  # a forecast on another grid than its input: nothing to show beside it
    out = forecast.assign_coords(
        observed_time=("observed_time", obs["time"].values, {"standard_name": "time"})
    )
    out[OBSERVED] = (
        ("observed_time", "y", "x"),
        obs.values.astype(np.float32),
        {**obs.attrs, "long_name": "observed rainfall rate (input of the nowcast)"},
    )
    return out


def write_geotiff(ds: xr.Dataset, variable: str = "rainfall_rate") -> bytes:
    """A GeoTIFF (float32, NaN = no data, deflate) with one band per lead time, or for
    ``probability_of_exceedance`` one band per threshold and lead; bands are described by
    their valid time (and threshold) so that QGIS lists them readably."""
    import rasterio
    from rasterio.transform import from_origin

    var = ds[variable]
    x, y = ds["x"].values, ds["y"].values
    dx, dy = float(x[1] - x[0]), float(y[0] - y[1])  # y descends: north-up
    transform = from_origin(x[0] - dx / 2, y[0] + dy / 2, dx, dy)
    times = [pd.Timestamp(t).strftime("%Y-%m-%dT%H:%MZ") for t in var[var.dims[-3]].values]
    bands = var.values.reshape(-1, ds.sizes["y"], ds.sizes["x"]).astype(np.float32)
    if var.ndim == 4:
        names = [f"P(>={t:g} mm/h) {when}" for t in var["threshold"].values for when in times]
    else:
        names = [f"{variable} {when}" for when in times]
    buf = io.BytesIO()
    with rasterio.MemoryFile() as memfile:
        with memfile.open(
            driver="GTiff",
            width=ds.sizes["x"],
            height=ds.sizes["y"],
            count=bands.shape[0],
            dtype="float32",
            crs=rasterio.CRS.from_wkt(dataset_crs(ds).to_wkt()),
            transform=transform,
            nodata=np.nan,
            compress="deflate",
            predictor=3,
            tiled=True,
        ) as dst:
            dst.write(bands)
            for band, name in enumerate(names, start=1):
                dst.set_band_description(band, name)
            dst.update_tags(
                units=var.attrs.get("units", ""),
                attribution=ds.attrs.get("attribution", ""),
                institution=ds.attrs.get("institution", ""),
            )
        buf.write(memfile.read())
    return buf.getvalue()


def _iso(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M")


def _rounded(values: np.ndarray, digits: int) -> list:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]


def point_forecast(
    ds: xr.Dataset,
    lat: float,
    lon: float,
    thresholds: Sequence[float],
    rain_threshold: float,
) -> dict:
    """The nowcast at the pixel containing (lat, lon), Open-Meteo style.

    ``probability`` holds one array per threshold (key: the threshold in mm/h); ``rain`` gives
    the start and end (valid times) of the first spell at or above ``rain_threshold``. The
    probability is computed on a window around the point only, as large as the neighbourhood
    of the longest lead, so a point costs milliseconds on any grid.
    """
    try:
        row, col = locate(ds, lat, lon)
    except RadarError as exc:
        raise ValueError(str(exc)) from None
    ref = ds["forecast_reference_time"].values
    leads = (ds["time"].values - ref) / np.timedelta64(1, "m")
    from radar.probability import radius_km

    km = pixel_size(ds) / 1000.0
    half = int(round(radius_km(float(np.max(leads))) / km)) + 1
    rows = slice(max(0, row - half), row + half + 1)
    cols = slice(max(0, col - half), col + half + 1)
    window = ds["rainfall_rate"].values[:, rows, cols]
    prob = exceedance(window, thresholds, leads, km)[:, :, row - rows.start, col - cols.start]
    series = window[:, row - rows.start, col - cols.start]
    times = [_iso(t) for t in ds["time"].values]
    wet = np.flatnonzero(np.nan_to_num(series, nan=-1.0) >= rain_threshold)
    start = end = None
    if wet.size:
        start = times[wet[0]]
        dry_after = np.flatnonzero(np.nan_to_num(series[wet[0] :], nan=-1.0) < rain_threshold)
        end = times[wet[0] + dry_after[0]] if dry_after.size else None
    cadence = int(round(float(np.median(np.diff(leads))))) if len(leads) > 1 else int(leads[0])
    block = f"minutely_{cadence}"
    return {
        "latitude": lat,
        "longitude": lon,
        "grid_cell": {
            "row": row,
            "col": col,
            "x": float(ds["x"].values[col]),
            "y": float(ds["y"].values[row]),
        },
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "forecast_reference_time": _iso(ref),
        f"{block}_units": {"time": "iso8601", "rainfall_rate": "mm/h", "probability": "1"},
        block: {
            "time": times,
            "rainfall_rate": _rounded(series, 2),
            "probability": {
                f"{t:g}": _rounded(p, 3) for t, p in zip(thresholds, prob, strict=True)
            },
        },
        "rain": {"threshold": rain_threshold, "start": start, "end": end},
    }
