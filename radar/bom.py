"""radar.bom: BoM Rainfields3 netCDF accumulations (``*.prcp-cscn.nc``, ``*.prcp-c10.nc``; 512 x 512
at 500 m, Albers), read with xarray (h5netcdf).

mm per (valid - start time) -> mm/h; x/y are km in the file. BoM files are HDF5/netCDF, which
the generic CF-NetCDF reader would accept but cannot read (no time dimension, km axes), so the
registry (:mod:`radar.interface`) asks :func:`is_bom_rf3` first.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from radar.canonical import RAIN_UNITS, one_frame
from radar.exceptions import FormatError, SizeLimitError
from radar.grids import CRS_ERRORS, crs_from_cf
from radar.hdf5 import DAMAGED, attr_text, is_hdf5
from radar.sources import Blob, base_name, check_chunks, check_values, expanded

BOM_ATTRIBUTION = "Bureau of Meteorology"
_BOM_NAME = re.compile(r"\.(?P<product>prcp-[a-z0-9]+)\.nc$", re.IGNORECASE)
_BOM_MARKERS = (b"Bureau of Meteorology", b"rainfields")


def is_bom_rf3(data: bytes, name: str = "") -> bool:
    """A netCDF file from BoM's Rainfields3 (institution or source attribute), or so named."""
    if is_hdf5(data):
        import h5py

        try:
            with h5py.File(io.BytesIO(data), "r") as h5:
                text = " ".join(
                    attr_text(h5.attrs.get(key, b"")) for key in ("institution", "source", "title")
                ).lower()
                if "bureau of meteorology" in text or "rainfields" in text:
                    return "precipitation" in h5
        except DAMAGED:
            return False
    elif data[:3] == b"CDF":
        head = data[:8192].lower()
        if any(marker.lower() in head for marker in _BOM_MARKERS):
            return True
    else:
        return False
    return bool(_BOM_NAME.search(base_name(name, "")))


def _bom_axis(var: xr.DataArray) -> np.ndarray:
    """Pixel-centre coordinates in metres of one Rainfields axis.

    Rainfields 3.2 files (prcp-c10) give centres with ``bounds``. Rainfields 3.0 files
    (prcp-cscn) have no bounds and their coordinates run from -128 to 127.5 km (y from 128 to
    -127.5): the upper-left corners of the pixels of a domain centred on the radar (the
    projection's origin). Such an axis, off-centre by exactly half a pixel and without bounds,
    is moved by half a pixel to the centres.
    """
    units = str(var.attrs.get("units", "m")).strip().lower()
    scale = {"km": 1000.0, "m": 1.0, "metre": 1.0, "meter": 1.0}.get(units)
    if scale is None:
        raise FormatError(f"projection coordinate {var.name} in unknown units {units!r}")
    values = var.values.astype(np.float64) * scale
    if values.size > 1 and "bounds" not in var.attrs:
        step = values[1] - values[0]
        if abs(values[0] + values[-1] + step) < abs(step) * 1e-3:
            values = values + step / 2.0
    return values


def read_bom_rf3(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one BoM Rainfields3 accumulation (``precipitation`` in mm = kg m-2) to mm/h.

    The interval is ``valid_time - start_time`` (6 min for prcp-cscn, 10 min for prcp-c10);
    the frame's time is ``valid_time`` (end of the accumulation). x/y are km in the file, the
    Albers equal-area projection comes from the CF grid mapping ``proj``; the fill value is
    NaN. ``keep_dbz`` is accepted for a uniform signature.
    """
    blob = expanded(blob)
    if not is_hdf5(blob.data) and blob.data[:3] != b"CDF":
        raise FormatError(f"{blob.name}: not a netCDF file (Rainfields3 files are netCDF)")
    engine = "scipy" if blob.data[:3] == b"CDF" else "h5netcdf"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_dataset(io.BytesIO(blob.data), engine=engine, decode_times=False)
            check_values(sum(v.size for v in ds.variables.values()), blob.name)
            check_chunks(ds.variables.values(), blob.name)
            ds.load()
    except SizeLimitError:
        raise
    except Exception as exc:  # xarray raises many types for damaged files
        raise FormatError(f"{blob.name}: unreadable netCDF ({type(exc).__name__}: {exc})") from None
    missing = [v for v in ("precipitation", "valid_time", "start_time", "x", "y") if v not in ds]
    if missing:
        raise FormatError(f"{blob.name}: not a Rainfields3 accumulation (no {', '.join(missing)})")
    var = ds["precipitation"]
    if set(var.dims) != {"y", "x"}:
        raise FormatError(f"{blob.name}: precipitation has dims {var.dims}, expected (y, x)")
    units = str(var.attrs.get("units", "")).strip()
    if units not in ("mm", "kg m-2"):
        raise FormatError(f"{blob.name}: precipitation in {units!r}, expected mm or kg m-2")

    def seconds(name: str) -> pd.Timestamp:
        item = ds[name]
        unit = str(item.attrs.get("units", ""))
        match = re.match(r"seconds since (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)", unit)
        if not match:
            raise FormatError(f"{blob.name}: {name} in unsupported units {unit!r}")
        return pd.Timestamp(match[1]) + pd.Timedelta(seconds=int(item.values))

    try:
        valid, start = seconds("valid_time"), seconds("start_time")
        minutes = (valid - start) / pd.Timedelta(minutes=1)
    except FormatError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:  # pandas' Out-of-bounds are ValueErrors
        raise FormatError(
            f"{blob.name}: valid or start time out of range ({type(exc).__name__}: {exc})"
        ) from None
    if minutes <= 0:
        raise FormatError(f"{blob.name}: accumulation interval of {minutes:g} minutes")

    gm = var.attrs.get("grid_mapping") or var.encoding.get("grid_mapping") or "proj"
    if gm not in ds.variables:
        raise FormatError(f"{blob.name}: grid mapping {gm!r} missing")
    try:
        crs = crs_from_cf(dict(ds[gm].attrs))
    except CRS_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise FormatError(f"{blob.name}: unusable grid mapping ({reason})") from None
    try:
        x, y = _bom_axis(ds["x"]), _bom_axis(ds["y"])
    except FormatError as exc:
        raise FormatError(f"{blob.name}: {exc}") from None

    amount = var.transpose("y", "x").values.astype(np.float64)
    rain = (np.maximum(amount, 0.0) * (60.0 / minutes)).astype(np.float32)
    rain[np.isnan(amount)] = np.nan
    named = _BOM_NAME.search(base_name(blob.name, ""))
    product = named["product"].lower() if named else f"rainfields3-{minutes:g}min"
    attrs = {
        "source_product": product,
        "source_format": "bom-rf3",
        "source_units": f"{units} per {minutes:g} min",
        "institution": str(ds.attrs.get("institution", "Bureau of Meteorology")),
        "attribution": BOM_ATTRIBUTION,
        "accutime_minutes": float(minutes),
    }
    for key, target in (
        ("licence", "source_licence"),
        ("station_id", "station_id"),
        ("station_name", "station_name"),
        ("source", "source_software"),
    ):
        if key in ds.attrs:
            value = ds.attrs[key]
            attrs[target] = int(value) if isinstance(value, np.integer) else str(value)
    return one_frame(rain, RAIN_UNITS, valid, x, y, crs, attrs)
