"""radar.canonical: build and check the canonical radar sequence of DESIGN.md §3.

The canonical sequence is an ``xarray.Dataset`` with

==========================  ===============================================================
``rainfall_rate``           float32 (time, y, x), mm h-1, NaN = no data / clutter
``time``                    UTC valid times (datetime64[ns]), ascending
``y``, ``x``                projection coordinates of pixel centres in metres; y descending
``crs``                     CF grid mapping with ``crs_wkt`` and ``proj4_params``
``forecast_reference_time`` scalar coordinate, only on forecasts (RADVOR RV, our nowcasts)
==========================  ===============================================================

Global attributes: ``source_product`` (RY, RW, RV, ...), ``source_format``
(radolan-binary, odim-h5, netcdf), ``institution``, ``attribution``, ``source_units`` (the
product's own unit before conversion), ``accutime_minutes`` (interval the product
integrates over), and for reflectivity products ``zr_a``/``zr_b``.
Every reader returns this; every writer takes it. Single-frame readers end in
:func:`one_frame`, the tail they share (Z-R for dBZ fields, the dBZ attributes, ``keep_dbz``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.exceptions import RadarError
from radar.grids import crs_variable
from radar.transforms import NO_RAIN_DBZ, ZR_A, ZR_B, reflectivity_to_rain

DWD_ATTRIBUTION = "Quelle: Deutscher Wetterdienst"
RAIN_UNITS = "mm h-1"
RAIN_ATTRS = {
    "standard_name": "rainfall_rate",
    "long_name": "rainfall rate",
    "units": RAIN_UNITS,
    "grid_mapping": "crs",
}
DBZ_ATTRS = {
    "standard_name": "equivalent_reflectivity_factor",
    "units": "dBZ",
    "grid_mapping": "crs",
}


def make_sequence(
    rain: np.ndarray,
    times: Sequence,
    x: np.ndarray,
    y: np.ndarray,
    crs: pyproj.CRS,
    attrs: dict,
    forecast_reference_time=None,
    extra: dict[str, tuple[np.ndarray, dict]] | None = None,
) -> xr.Dataset:
    """Assemble a canonical dataset; flips the rows so that y descends (north-up).

    ``rain`` is (time, y, x) in mm/h on the coordinates ``x``/``y`` (either y order).
    ``extra`` adds more (time, y, x) variables on the same grid (such as ``reflectivity``),
    flipped the same way.
    """
    rain = np.asarray(rain, dtype=np.float32)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if rain.ndim != 3 or rain.shape[1:] != (y.size, x.size):
        raise RadarError(
            f"rain field of shape {rain.shape} does not match grid ({y.size}, {x.size})"
        )
    extra = dict(extra or {})
    if y.size > 1 and y[1] > y[0]:
        y = y[::-1]
        rain = rain[:, ::-1, :]
        extra = {k: (np.asarray(v)[:, ::-1, :], a) for k, (v, a) in extra.items()}
    time = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).tz_convert(None)
    ds = xr.Dataset(
        {
            "rainfall_rate": (("time", "y", "x"), np.ascontiguousarray(rain), dict(RAIN_ATTRS)),
            "crs": crs_variable(crs),
        },
        coords={
            "time": ("time", time.values.astype("datetime64[ns]"), {"standard_name": "time"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}),
        },
        attrs={"Conventions": "CF-1.8", **attrs},
    )
    for name, (values, var_attrs) in extra.items():
        ds[name] = (("time", "y", "x"), np.ascontiguousarray(values, dtype=np.float32), var_attrs)
    if forecast_reference_time is not None:
        ref = pd.Timestamp(forecast_reference_time)
        ref = ref.tz_convert(None) if ref.tzinfo else ref
        ds = ds.assign_coords(
            forecast_reference_time=(
                (),
                np.datetime64(ref, "ns"),
                {"standard_name": "forecast_reference_time"},
            )
        )
    return ds


def one_frame(
    values: np.ndarray,
    unit: str,
    valid,
    x: np.ndarray,
    y: np.ndarray,
    crs: pyproj.CRS,
    attrs: dict,
    keep_dbz: bool = False,
    forecast_reference_time=None,
    dry: np.ndarray | None = None,
) -> xr.Dataset:
    """The tail every single-frame reader shares: a (y, x) field in mm/h or dBZ -> the canonical
    sequence of one frame valid at ``valid``.

    Reflectivity becomes rain through the project's Z-R law (:func:`radar.transforms.
    reflectivity_to_rain`, echoes below ``NO_RAIN_DBZ`` are no rain), the law is recorded in
    ``attrs`` (``zr_a``, ``zr_b``, ``no_rain_dbz``), and ``keep_dbz`` keeps the field as
    ``reflectivity``. ``dry`` marks pixels the product says hold no rain whatever their value.
    """
    extra = None
    if unit == "dBZ":
        rain = reflectivity_to_rain(values)
        attrs = {**attrs, "zr_a": ZR_A, "zr_b": ZR_B, "no_rain_dbz": NO_RAIN_DBZ}
        if keep_dbz:
            extra = {"reflectivity": (values[None], dict(DBZ_ATTRS))}
    elif unit == RAIN_UNITS:
        rain = values
    else:
        raise RadarError(f"a reader gave a field in {unit!r}, not mm h-1 or dBZ")
    if dry is not None:
        rain = np.where(dry, np.float32(0.0), rain)
    return make_sequence(
        rain[None],
        [valid],
        x,
        y,
        crs,
        attrs,
        forecast_reference_time=forecast_reference_time,
        extra=extra,
    )


def check_sequence(ds: xr.Dataset) -> xr.Dataset:
    """Raise :class:`RadarError` unless ``ds`` follows the canonical contract; return it."""
    if "rainfall_rate" not in ds:
        raise RadarError("dataset has no 'rainfall_rate' variable")
    var = ds["rainfall_rate"]
    if var.dims != ("time", "y", "x"):
        raise RadarError(f"rainfall_rate dims are {var.dims}, expected ('time', 'y', 'x')")
    if var.attrs.get("units") != "mm h-1":
        raise RadarError(f"rainfall_rate units are {var.attrs.get('units')!r}, expected 'mm h-1'")
    if ds.sizes["y"] > 1 and not bool(ds["y"][0] > ds["y"][-1]):
        raise RadarError("y must descend (north-up)")
    if ds.sizes["time"] > 1 and not bool((np.diff(ds["time"].values) > np.timedelta64(0)).all()):
        raise RadarError("times must be strictly ascending")
    if var.attrs.get("grid_mapping") not in ds:
        raise RadarError("rainfall_rate names no existing grid-mapping variable")
    return ds


def cadence_minutes(ds: xr.Dataset) -> float | None:
    """The time step between frames in minutes (None for a single frame)."""
    if ds.sizes["time"] < 2:
        return None
    steps = np.diff(ds["time"].values) / np.timedelta64(1, "m")
    return float(np.median(steps))


def rain_stats(ds: xr.Dataset) -> dict:
    """Summary statistics of the rain field (used by ``nowcast inspect``)."""
    rain = ds["rainfall_rate"].values
    valid = np.isfinite(rain)
    n_valid = int(valid.sum())
    wet = rain[valid] > 0.1
    return {
        "pixels": int(rain.size),
        "nodata_fraction": float(1 - n_valid / rain.size) if rain.size else 0.0,
        "wet_fraction": float(wet.mean()) if n_valid else 0.0,
        "max_mm_h": float(np.nanmax(rain)) if n_valid else float("nan"),
        "mean_mm_h": float(np.nanmean(rain)) if n_valid else float("nan"),
    }
