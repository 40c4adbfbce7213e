"""radar.fmi: FMI 8-bit PGM reflectivity composites (``*_fmi.radar.composite.lowest_FIN_SUOMI1
.pgm(.gz)``; 1226 x 760 at 1 km, stereographic), read with pysteps' ``import_fmi_pgm``.

``dBZ = (PV - 64) / 2`` -> Z-R (:func:`radar.canonical.one_frame`); the time is the header's
``obstime``, else the file name. Without pysteps the reader raises
:class:`~radar.exceptions.MissingOptionalDependency`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar._pysteps import pixel_centres, run_importer
from radar.canonical import one_frame
from radar.exceptions import FormatError
from radar.sources import MAX_FRAME_VALUES, Blob, base_name, check_values, expanded

FMI_ATTRIBUTION = "FMI"
_FMI_NAME = re.compile(r"(?P<when>\d{12})_fmi\.radar\.composite", re.IGNORECASE)
_FMI_OBSTIME = re.compile(rb"#\s*obstime\s+(\d{12})")


def _pgm_header(data: bytes) -> bytes:
    """The PGM header (magic, comments, size, maxval) or what there is of it."""
    return data[:4096]


def is_fmi_pgm(data: bytes, name: str = "") -> bool:
    """A binary PGM (P5) with FMI's header comments, or named like an FMI composite."""
    if data[:2] != b"P5":
        return False
    head = _pgm_header(data)
    return (b"# obstime" in head and b"# projection_name" in head) or bool(
        _FMI_NAME.search(base_name(name, ""))
    )


def read_fmi_pgm(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one FMI 8-bit PGM reflectivity composite with pysteps' ``import_fmi_pgm``.

    ``dBZ = (PV - 64) / 2``; the PGM maximum value (255) is outside the coverage (NaN). The
    stereographic projection is pysteps' (true at 60N, central meridian from the header, sphere
    R = 6371288 m, false origin at the lower-left corner); the grid's corners come from the
    header's ``bottomleft``/``topright``. The time is ``obstime`` (UTC) from the header, else
    the file name. The blob may still be gzipped.
    """
    blob = expanded(blob)
    if blob.data[:2] != b"P5":
        raise FormatError(f"{blob.name}: not a binary PGM file (FMI composites are P5 PGM)")
    head = _pgm_header(blob.data)
    numbers = re.findall(rb"\d+", re.sub(rb"#[^\n]*", b"", head[2:]))[:3]
    if len(numbers) < 3:
        raise FormatError(f"{blob.name}: PGM header without a size and a maximum value")
    width, height, maxval = (int(n) for n in numbers)
    check_values(width * height, blob.name, MAX_FRAME_VALUES)
    if maxval != 255:
        # PIL decodes any other maximum pixel by pixel in Python (1.4 s for this grid; found
        # by fuzzing)
        raise FormatError(
            f"{blob.name}: PGM maximum value {maxval}; FMI composites are 8-bit (255)"
        )
    obstime = _FMI_OBSTIME.search(head)
    named = _FMI_NAME.search(base_name(blob.name, ""))
    when = obstime[1].decode() if obstime else named["when"] if named else None
    if when is None:
        raise FormatError(
            f"{blob.name}: an FMI PGM needs 'obstime' in its header or its FMI file name "
            "(YYYYmmddHHMM_fmi.radar.composite...) for the time"
        )
    try:
        valid = pd.to_datetime(when, format="%Y%m%d%H%M")
    except ValueError:
        raise FormatError(f"{blob.name}: unreadable FMI time {when!r}") from None

    filename = base_name(blob.name, "frame.pgm")
    if filename.lower().endswith(".gz"):
        filename = filename[:-3]
    dbz, _, meta = run_importer(blob, filename, "import_fmi_pgm", gzipped=False)
    if "projection" not in meta:
        raise FormatError(
            f"{blob.name}: FMI PGM without stereographic projection metadata "
            "(type, centrallongitude, bottomleft, topright)"
        )
    dbz = np.asarray(dbz, dtype=np.float32)
    x, y = pixel_centres(meta, dbz.shape, blob.name, "the header's corners")
    product = "LOWEST"
    match = re.search(rb"#\s*productname\s+(\S+)", head)
    if match:
        product = match[1].decode("ascii", "replace")
    attrs = {
        "source_product": product,
        "source_format": "fmi-pgm",
        "source_units": "dBZ",
        "institution": "Finnish Meteorological Institute",
        "attribution": FMI_ATTRIBUTION,
        "accutime_minutes": float(meta.get("accutime", 5.0)),
    }
    crs = pyproj.CRS.from_proj4(meta["projection"])
    return one_frame(dbz, "dBZ", valid, x, y, crs, attrs, keep_dbz=keep_dbz)
