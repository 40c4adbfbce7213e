"""radar.radolan_ascii: RADOLAN ASCII grids (``RW_YYYYMMDD-hhmm.asc``, as in DWD's archives).

ESRI ASCII grids on the national 900x900 grid: a six-line header (``ncols``, ``nrows``,
``xllcorner``, ``yllcorner`` in RADOLAN metres, ``cellsize``, ``NODATA_value``), then rows from
north to south. The header holds neither product nor time, so both come from the file name;
values are integers in the product's precision (RW: 0.1 mm per hour).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.canonical import DWD_ATTRIBUTION, RAIN_UNITS, one_frame
from radar.exceptions import FormatError
from radar.sources import Blob

#: product -> (precision in mm, interval in minutes)
PRODUCTS = {"RW": (0.1, 60), "RY": (0.01, 5), "YW": (0.01, 5)}
RADOLAN_SPHERE = (
    "+proj=stere +lat_0=90 +lat_ts=60 +lon_0=10 +x_0=0 +y_0=0 +R=6370040 +units=m +no_defs"
)
_NAME = re.compile(r"(?P<product>[A-Z]{2})[-_](?P<date>\d{8})-(?P<hhmm>\d{4})\.asc$", re.I)
_KEYS = ("ncols", "nrows", "xllcorner", "yllcorner", "cellsize", "nodata_value")


def is_radolan_ascii(data: bytes) -> bool:
    return data[:5].lower() == b"ncols"


def read_radolan_ascii(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one RADOLAN ASCII grid; ``keep_dbz`` is accepted for a uniform reader signature."""
    match = _NAME.search(blob.name)
    if not match:
        raise FormatError(
            f"{blob.name}: a RADOLAN ASCII grid needs its DWD file name "
            "(PRODUCT_YYYYMMDD-hhmm.asc) for product and time"
        )
    product = match["product"].upper()
    if product not in PRODUCTS:
        raise FormatError(
            f"{blob.name}: ASCII product {product} not supported ({', '.join(PRODUCTS)})"
        )
    text = io.StringIO(blob.data.decode("ascii", "replace"))
    header = {}
    for key in _KEYS:
        parts = text.readline().split()
        if len(parts) != 2 or parts[0].lower() != key:
            raise FormatError(f"{blob.name}: bad ASCII grid header line for {key!r}")
        try:
            header[key] = float(parts[1])
        except ValueError:  # a damaged header (fuzzing found one)
            raise FormatError(f"{blob.name}: {key} {parts[1]!r} is not a number") from None
    if not all(np.isfinite(list(header.values()))) or min(header["nrows"], header["ncols"]) < 1:
        raise FormatError(f"{blob.name}: bad ASCII grid header {header}")
    rows, cols = int(header["nrows"]), int(header["ncols"])
    try:
        values = np.loadtxt(text, dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise FormatError(f"{blob.name}: bad ASCII grid values ({exc})") from None
    if values.shape != (rows, cols):
        raise FormatError(
            f"{blob.name}: {values.shape[0]}x{values.shape[1]} values, header says {rows}x{cols}"
        )
    precision, interval = PRODUCTS[product]
    rain = np.where(values == header["nodata_value"], np.nan, values * precision * 60.0 / interval)
    size = header["cellsize"]
    x = header["xllcorner"] + (np.arange(cols) + 0.5) * size
    y = header["yllcorner"] + (np.arange(rows)[::-1] + 0.5) * size  # first row is the north
    try:
        when = pd.Timestamp(f"{match['date']}T{match['hhmm']}")
    except ValueError:
        raise FormatError(f"{blob.name}: no valid time in the file name") from None
    return one_frame(
        rain.astype(np.float32),
        RAIN_UNITS,
        when,
        x,
        y,
        pyproj.CRS.from_proj4(RADOLAN_SPHERE),
        {
            "source_product": product,
            "source_format": "radolan-ascii",
            "source_units": f"{precision} mm per {interval} min",
            "institution": "Deutscher Wetterdienst",
            "attribution": DWD_ATTRIBUTION,
            "accutime_minutes": float(interval),
        },
    )
