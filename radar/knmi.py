"""radar.knmi: KNMI HDF5 composites (``RAD_NL25_RAP_5min_*.h5`` accumulations, ``RAD_NL25_PCP_NA``
``.hf5`` reflectivity; 765 x 700 at 1 km), read with h5py.

``GEO = gain * PV + offset`` from the file's calibration. RAP: mm per 5 min -> mm/h; PCP_NA: dBZ
-> Z-R (:func:`radar.canonical.one_frame`), PV 0 (no echo) is no rain. The time is the end of the
product interval in the ``overview`` group.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.canonical import RAIN_UNITS, one_frame
from radar.exceptions import FormatError
from radar.hdf5 import DAMAGED, attr_number, attr_text, is_hdf5
from radar.sources import Blob, check_values, expanded

KNMI_ATTRIBUTION = "Source: KNMI"
_KNMI_GROUPS = ("overview", "image1", "geographic")
_CALIBRATION = re.compile(
    r"GEO\s*=\s*([-+0-9.eE]+)\s*\*\s*PV\s*\+?\s*([-+]?\s*[-+0-9.eE]+)", re.IGNORECASE
)
_KNMI_TIME = "%d-%b-%Y;%H:%M:%S.%f"


def _knmi_crs(proj4: str, name: str) -> pyproj.CRS:
    """The KNMI projection in metres.

    The files give the ellipsoid in km (their coordinates are km), ``6378.137/6356.752`` in the
    2010 RAP files and rounded to ``6378.14/6356.75`` (with a broken ``y_0=0``) in the 2021
    PCP_NA files. Both are taken as a = 6378137 m, b = 6356752 m, as pysteps does for the
    rounded string; the rounding would move points by a few metres only.
    """
    params = {}
    for token in proj4.replace("+", " +").split():
        key, _, value = token.lstrip("+").partition("=")
        params[key] = value
    if params.get("proj") != "stere":
        raise FormatError(f"{name}: KNMI projection {proj4!r} is not polar stereographic")
    try:
        a, b = float(params.pop("a")), float(params.pop("b"))
    except (KeyError, ValueError):
        raise FormatError(f"{name}: KNMI projection {proj4!r} has no ellipsoid") from None
    if a < 1e5:  # given in km
        a, b = a * 1000.0, b * 1000.0
    if abs(a - 6378137.0) < 10 and abs(b - 6356752.0) < 10:
        a, b = 6378137.0, 6356752.0
    lat_0 = float(params.get("lat_0", 90))
    lon_0 = float(params.get("lon_0", 0))
    lat_ts = float(params.get("lat_ts", 60))
    return pyproj.CRS.from_proj4(
        f"+proj=stere +lat_0={lat_0:g} +lon_0={lon_0:g} +lat_ts={lat_ts:g} +a={a:.0f} "
        f"+b={b:.0f} +x_0=0 +y_0=0 +units=m +no_defs"
    )


def _knmi_axis(offset: float, size: float, count: int, unit: str) -> np.ndarray:
    """Pixel-centre coordinates (m) of one KNMI axis from its offset and pixel size (``unit``).

    Offsets and sizes within 0.05 pixel of whole numbers are snapped (the 2021 files carry
    3649.982 and 1.0000035 km, float32 leftovers of the rounded ellipsoid, for the same 1 km
    grid as the 2010 files; the difference is under 5 m over the grid).
    """
    scale = {"KM": 1000.0, "M": 1.0}.get(unit.upper(), 1000.0)
    if abs(size - round(size)) * count < 0.05 and round(size) != 0:
        size = float(round(size))
    if abs(offset - round(offset)) < 0.05:
        offset = float(round(offset))
    return (offset + np.arange(count) + 0.5) * size * scale


def is_knmi_hdf5(data: bytes) -> bool:
    """An HDF5 file with KNMI's ``overview``/``image1``/``geographic`` groups."""
    if not is_hdf5(data):
        return False
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            return all(group in h5 for group in _KNMI_GROUPS)
    except DAMAGED:
        return False


def read_knmi_hdf5(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one KNMI HDF5 composite (RAD_NL25_RAP_5min or RAD_NL25_PCP_NA).

    The calibration ``GEO = gain * PV + offset`` comes from ``image1/calibration``. Pixels equal
    to ``calibration_out_of_image`` are outside the coverage (NaN). ``calibration_missing_data``
    is NaN for accumulations (in the RAP files it equals out-of-image, 65535); for reflectivity
    (PCP_NA: PV 0, -32 dBZ) it marks pixels inside the coverage without echo, i.e. no rain.
    Accumulations (``ACCUMULATED_PRECIPITATION_[MM]``) are divided by the interval between
    ``product_datetime_start`` and ``_end``; the frame's time is the end.
    """
    import h5py

    blob = expanded(blob)
    if not is_hdf5(blob.data):
        raise FormatError(f"{blob.name}: not an HDF5 file (KNMI composites are HDF5)")
    try:
        with h5py.File(io.BytesIO(blob.data), "r") as h5:
            missing = [g for g in _KNMI_GROUPS if g not in h5]
            if missing:
                raise FormatError(
                    f"{blob.name}: not a KNMI composite (no {', '.join(missing)} group)"
                )
            image = h5["image1"]
            pixels = image["image_data"]
            parameter = attr_text(image.attrs.get("image_geo_parameter", b""))
            calib = image["calibration"].attrs
            formula = attr_text(calib.get("calibration_formulas", b""))
            out_value = calib.get("calibration_out_of_image")
            miss_value = calib.get("calibration_missing_data")
            geo = h5["geographic"].attrs
            proj4 = attr_text(h5["geographic/map_projection"].attrs["projection_proj4_params"])
            columns = int(attr_number(geo["geo_number_columns"]))
            rows = int(attr_number(geo["geo_number_rows"]))
            if pixels.shape != (rows, columns):  # before reading what may be huge
                shape = "x".join(map(str, pixels.shape)) or "a scalar"
                raise FormatError(
                    f"{blob.name}: image is {shape}, geographic says {rows}x{columns}"
                )
            check_values(pixels.size, blob.name)
            raw = pixels[()]
            col_offset = attr_number(geo["geo_column_offset"])
            row_offset = attr_number(geo["geo_row_offset"])
            size_x = attr_number(geo["geo_pixel_size_x"])
            size_y = attr_number(geo["geo_pixel_size_y"])
            axis_unit = attr_text(geo.get("geo_dim_pixel", b"KM")).split(",")[0]
            overview = h5["overview"].attrs
            start = attr_text(overview.get("product_datetime_start", b""))
            end = attr_text(overview["product_datetime_end"])
            product = attr_text(overview.get("product_group_name", b"")) or attr_text(
                image.attrs.get("image_product_name", b"KNMI")
            )
    except FormatError:
        raise
    except DAMAGED as exc:
        raise FormatError(f"{blob.name}: unreadable or incomplete KNMI HDF5 ({exc})") from None

    geometry = (col_offset, row_offset, size_x, size_y)
    if not all(math.isfinite(v) for v in geometry) or 0.0 in (size_x, size_y):
        # inf and NaN made round() raise in _knmi_axis (found by fuzzing)
        raise FormatError(
            f"{blob.name}: grid offsets and pixel sizes must be finite, sizes not 0: {geometry}"
        )
    match = _CALIBRATION.search(formula)
    if not match:
        raise FormatError(f"{blob.name}: unknown KNMI calibration formula {formula!r}")
    gain, offset = float(match[1]), float(match[2].replace(" ", ""))
    try:
        valid = pd.to_datetime(end, format=_KNMI_TIME)
        begin = pd.to_datetime(start, format=_KNMI_TIME) if start else valid
    except ValueError:
        raise FormatError(f"{blob.name}: unreadable KNMI product time {end!r}") from None
    interval = (valid - begin) / pd.Timedelta(minutes=1)

    outside = np.zeros(raw.shape, dtype=bool)
    if out_value is not None:
        outside |= raw == attr_number(out_value)  # int() failed on inf
    no_echo = np.zeros(raw.shape, dtype=bool)
    if miss_value is not None:
        no_echo = raw == attr_number(miss_value)
    values = (raw.astype(np.float64) * gain + offset).astype(np.float32)

    attrs = {
        "source_product": product,
        "source_format": "knmi-hdf5",
        "institution": "KNMI (Royal Netherlands Meteorological Institute)",
        "attribution": KNMI_ATTRIBUTION,
        "knmi_calibration": formula,
    }
    dry = None
    if "DBZ" in parameter.upper() or "REFLECTIVITY" in parameter.upper():
        values[outside] = np.nan
        unit = "dBZ"
        dry = no_echo & ~outside
        attrs.update(source_units="dBZ", accutime_minutes=interval if interval > 0 else 5.0)
    elif "MM" in parameter.upper() or "PRECIPITATION" in parameter.upper():
        if interval <= 0:
            raise FormatError(
                f"{blob.name}: accumulation without an interval (start {start!r}, end {end!r})"
            )
        values[outside | no_echo] = np.nan
        unit = RAIN_UNITS
        rain = np.maximum(values, 0.0) * np.float32(60.0 / interval)
        rain[np.isnan(values)] = np.nan
        values = rain
        attrs.update(source_units=f"mm per {interval:g} min", accutime_minutes=float(interval))
    else:
        raise FormatError(
            f"{blob.name}: KNMI quantity {parameter!r} is not supported "
            "(accumulated precipitation in mm or reflectivity in dBZ are)"
        )

    x = _knmi_axis(col_offset, size_x, columns, unit=axis_unit)
    y = _knmi_axis(row_offset, size_y, rows, unit=axis_unit)  # size_y < 0: row 0 is the north
    return one_frame(
        values, unit, valid, x, y, _knmi_crs(proj4, blob.name), attrs, keep_dbz=keep_dbz, dry=dry
    )
