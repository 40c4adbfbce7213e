"""radar.odim: DWD ODIM_H5 composites on the DE1200 grid (RY, RW, and the new RADVOR RV).

Decoding is wradlib's (its xarray backend over h5py). Quantities become mm/h:

* ``RATE`` (RY) is already mm/h;
* ``ACRR`` (RW: mm per hour; RV: mm per 5 minutes) is divided by its accumulation interval,
  taken from ``/dataset1/what`` start and end times;
* ``DBZH`` goes through the Z-R law.

``undetect`` is no rain (0); ``nodata`` is NaN. The RV packing (gain 0.001, offset -0.001)
decodes raw 0 to -0.001 mm, so negative amounts are clipped to 0.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.canonical import DWD_ATTRIBUTION, RAIN_UNITS, one_frame
from radar.exceptions import FormatError
from radar.hdf5 import DAMAGED, is_hdf5
from radar.sources import Blob


def is_odim(data: bytes) -> bool:
    """True for an HDF5 file whose root says ODIM_H5 (not a NetCDF4 file, also HDF5)."""
    if not is_hdf5(data):
        return False
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            conventions = h5.attrs.get("Conventions", b"")
            if isinstance(conventions, bytes):
                conventions = conventions.decode("ascii", "replace")
            return str(conventions).startswith("ODIM") or "what" in h5 and "dataset1" in h5
    except DAMAGED:
        return False


def _interval_minutes(attrs: dict) -> float | None:
    try:
        start = pd.Timestamp(f"{attrs['startdate']}T{attrs['starttime']}")
        end = pd.Timestamp(f"{attrs['enddate']}T{attrs['endtime']}")
    except (KeyError, ValueError):
        return None
    minutes = (end - start) / pd.Timedelta(minutes=1)
    return minutes if minutes > 0 else None


def read_odim(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one ODIM_H5 composite into a canonical sequence of one frame."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = xr.open_dataset(io.BytesIO(blob.data), engine="radolan")
            raw.load()
    except DAMAGED as exc:
        raise FormatError(f"{blob.name}: unreadable or truncated ODIM_H5 file ({exc})") from None

    names = [v for v in raw.data_vars if v not in ("crs", "crs_wkt")]
    if not names:
        raise FormatError(f"{blob.name}: ODIM_H5 file holds no data")
    quantity = names[0]
    var = raw[quantity]
    values = var.values.astype(np.float32)
    interval = _interval_minutes(var.attrs)
    product = str(var.attrs.get("prodname", quantity)).split("_")[0]
    attrs = {
        "source_product": product,
        "source_format": "odim-h5",
        "source_quantity": quantity,
        "source_units": var.attrs.get("unit"),
        "institution": "Deutscher Wetterdienst",
        "attribution": DWD_ATTRIBUTION,
        "accutime_minutes": interval or 5.0,
    }
    unit = RAIN_UNITS
    if quantity == "RATE":
        values = np.where(values < 0, 0.0, values).astype(np.float32)
    elif quantity == "ACRR":
        if interval is None:
            raise FormatError(f"{blob.name}: ACRR without a valid accumulation interval")
        # the RV packing decodes raw 0 to -0.001 mm: negative amounts are no rain
        values = np.where(values < 0, 0.0, values * np.float32(60.0 / interval)).astype(np.float32)
    elif quantity == "DBZH":
        unit = "dBZ"
    else:
        raise FormatError(
            f"{blob.name}: ODIM quantity {quantity} is not supported (RATE, ACRR, DBZH are)"
        )

    coord_name = "crs" if "crs" in raw.variables else "crs_wkt"
    crs = pyproj.CRS.from_wkt(raw[coord_name].attrs["crs_wkt"])
    analysis = pd.Timestamp(raw["time"].values[0])
    valid = analysis
    ref = None
    if "prediction_time" in raw:  # a RADVOR member: valid at its lead, analysis as reference
        valid, ref = pd.Timestamp(raw["prediction_time"].values[0]), analysis
    x, y = raw["x"].values, raw["y"].values
    return one_frame(values, unit, valid, x, y, crs, attrs, keep_dbz, forecast_reference_time=ref)
