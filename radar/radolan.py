"""radar.radolan: DWD RADOLAN binary composites (plain, .gz, .bz2; RADVOR RV tar archives).

Decoding is wradlib's (its xarray backend); this module checks the header first, so that a
truncated or foreign file gets a clear :class:`FormatError` instead of a numpy traceback, and
turns every product into the canonical ``rainfall_rate`` in mm/h:

* rain products (RY, RW, RV, YW, RQ, EZ, ...; raw ``value = (raw & 0x0FFF) * precision`` per
  interval) are converted to mm/h by wradlib from the header's precision and interval;
* reflectivity products (RX, WX, EX; ``dBZ = raw / 2 - 32.5``) go through the Z-R law of
  :mod:`radar.transforms`; echoes below ``NO_RAIN_DBZ`` count as no rain, and the dBZ field
  is kept as ``reflectivity`` when asked;
* no-data (flag 0x2000, or 250 for uint8 products) and clutter (0x8000, or 249) become NaN.

Sums over hours or days (SF, W1, ...), probabilities (RE, %Y) and run-length coded products
(PG) are refused with a message that lists what is supported.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.canonical import DWD_ATTRIBUTION, RAIN_UNITS, one_frame
from radar.exceptions import FormatError
from radar.sources import Blob

NODATA_FLAG = 0x2000
CLUTTER_FLAG = 0x8000
_HEADER_END = b"\x03"
_PRODUCT = re.compile(rb"^[A-Z%][A-Z0-9%]\d{6}10000")
_MAX_HEADER = 4096


def is_radolan(data: bytes) -> bool:
    """True when ``data`` starts like a RADOLAN composite header (product, DDhhmm, 10000)."""
    return bool(_PRODUCT.match(data[:15])) and _HEADER_END in data[:_MAX_HEADER]


def parse_header(data: bytes, name: str) -> dict:
    """Parse and check the ASCII header; returns wradlib's header dict plus ``header_bytes``."""
    from wradlib.io.radolan import parse_dwd_composite_header

    end = data.find(_HEADER_END, 0, _MAX_HEADER)
    if not _PRODUCT.match(data[:15]) or end < 0:
        raise FormatError(f"{name}: not a RADOLAN binary composite (bad header)")
    try:
        header = parse_dwd_composite_header(data[:end].decode("ascii"))
    except (ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
        raise FormatError(f"{name}: unreadable RADOLAN header ({exc})") from None
    header["header_bytes"] = end + 1
    size = header.get("datasize")
    if size is not None and len(data) - end - 1 < size:
        raise FormatError(
            f"{name}: truncated RADOLAN file ({len(data) - end - 1} of {size} data bytes)"
        )
    return header


def _mask_flags(values: np.ndarray, data: bytes, header: dict) -> None:
    """Set pixels flagged no-data (0x2000) or clutter (0x8000) to NaN, in place.

    wradlib recognises only the sentinel values DWD usually writes with these flags (2500,
    2490); the format defines the flag bits, so they are applied here whatever the value.
    ``values`` is in stored order (row 0 = south), as wradlib returns it.
    """
    rows, cols = values.shape
    start = header["header_bytes"]
    if len(data) - start < rows * cols * 2:
        return
    raw = np.frombuffer(data, dtype="<u2", count=rows * cols, offset=start).reshape(rows, cols)
    values[(raw & (NODATA_FLAG | CLUTTER_FLAG)) != 0] = np.nan


def read_radolan(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one RADOLAN binary frame into a canonical sequence of one frame.

    For RADVOR members (header ``VV`` > 0) ``time`` is the valid time and the analysis time is
    the ``forecast_reference_time`` coordinate.
    """
    header = parse_header(blob.data, blob.name)
    product = header["producttype"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = xr.open_dataset(io.BytesIO(blob.data), engine="radolan")
            raw.load()
    except (ValueError, ZeroDivisionError) as exc:  # a header field of 0 (fuzzing found it)
        raise FormatError(
            f"{blob.name}: cannot decode RADOLAN product {product!r} ({exc})"
        ) from None
    except (OSError, EOFError, IndexError, KeyError) as exc:  # KeyError: no BY (fuzzing)
        raise FormatError(f"{blob.name}: damaged RADOLAN file ({exc!r})") from None

    var = raw[product]
    unit = var.attrs.get("unit")
    values = var.values.astype(np.float32)
    if var.encoding.get("dtype") == np.dtype("uint16"):
        _mask_flags(values, blob.data, header)
    attrs = {
        "source_product": product,
        "source_format": "radolan-binary",
        "source_units": unit,
        "institution": "Deutscher Wetterdienst",
        "attribution": DWD_ATTRIBUTION,
        "accutime_minutes": header.get("intervalseconds", 300) / 60,
        "radolan_precision": header.get("precision", np.nan),
        "radolan_format_version": header.get("formatversion", 0),
    }
    if unit not in (RAIN_UNITS, "dBZ"):
        raise FormatError(
            f"{blob.name}: RADOLAN product {product} ({unit}) is not a rain rate or reflectivity; "
            "supported: RY, RW, RV, YW, RQ, RZ, RH, RB, RL, RU, EZ, EH, EB, EW, EY (rain) and "
            "RX, WX, EX (dBZ)"
        )

    analysis = pd.Timestamp(raw["time"].values[0])
    lead = int(header.get("predictiontime", 0) or 0)
    valid = analysis + pd.Timedelta(minutes=lead)
    crs = pyproj.CRS.from_wkt(raw["crs"].attrs["crs_wkt"])
    x, y = raw["x"].values, raw["y"].values
    ref = analysis if product in ("RV", "RE", "RQ") else None  # forecasts name their analysis
    return one_frame(values, unit, valid, x, y, crs, attrs, keep_dbz, forecast_reference_time=ref)
