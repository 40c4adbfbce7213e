"""radar.interface: the reader registry, format detection and reading one source.

Every reader has the same contract: ``read_<format>(blob, **kwargs) -> xr.Dataset``, taking a
decompressed :class:`~radar.sources.Blob` and returning the canonical sequence of
:mod:`radar.canonical` (usually one frame). ``get_reader(name)`` looks one up by name
(case-insensitive, with aliases); :func:`detect_format` tells the format from the bytes
themselves, never from the file name, so uploads without a name work too.

==============  ================================  ====================================
name            aliases                           reads
==============  ================================  ====================================
radolan         radolan-binary, binary, bin       RADOLAN binary composites, RADVOR RV
odim            odim-h5, odim_h5, hdf5, h5        ODIM_H5 composites (DE1200)
netcdf          cf-netcdf, nc                     CF-NetCDF sequences (ours, pysteps')
radolan-ascii   asc, ascii                        RADOLAN ASCII grids (RW_...asc)
knmi-hdf5       knmi, knmi-pcp-na                 KNMI HDF5 composites (training data)
mch-gif         mch, meteoswiss, gif              MeteoSwiss AQC/CPC GIF (training data)
fmi-pgm         fmi, pgm                          FMI PGM composites (training data)
bom-rf3         bom, rainfields3, rf3             BoM Rainfields3 netCDF (training data)
==============  ================================  ====================================

The non-DWD readers live in :mod:`radar.foreign`; they are detected before the generic
ODIM/NetCDF checks because KNMI and BoM files are HDF5/netCDF too.
"""

from __future__ import annotations

from collections.abc import Callable

import xarray as xr

from radar.exceptions import FormatError
from radar.foreign import FOREIGN_ALIASES, FOREIGN_READERS, detect_foreign
from radar.netcdf import is_netcdf, read_netcdf
from radar.odim import is_odim, read_odim
from radar.radolan import is_radolan, read_radolan
from radar.radolan_ascii import is_radolan_ascii, read_radolan_ascii
from radar.sources import Blob

Reader = Callable[..., xr.Dataset]

_readers: dict[str, Reader] = {
    "radolan": read_radolan,
    "odim": read_odim,
    "netcdf": read_netcdf,
    "radolan-ascii": read_radolan_ascii,
    **FOREIGN_READERS,
}
_aliases: dict[str, str] = {
    "radolan-binary": "radolan",
    "binary": "radolan",
    "bin": "radolan",
    "odim-h5": "odim",
    "odim_h5": "odim",
    "hdf5": "odim",
    "h5": "odim",
    "cf-netcdf": "netcdf",
    "nc": "netcdf",
    "asc": "radolan-ascii",
    "ascii": "radolan-ascii",
    **FOREIGN_ALIASES,
}


def reader_names() -> list[str]:
    """Every name :func:`get_reader` accepts."""
    return sorted([*_readers, *_aliases])


def get_reader(name: str) -> Reader:
    """The reader registered under ``name`` (case-insensitive; aliases allowed)."""
    if not isinstance(name, str):
        raise TypeError(f"reader name must be a string, not {type(name).__name__}")
    key = name.lower()
    key = _aliases.get(key, key)
    try:
        return _readers[key]
    except KeyError:
        raise ValueError(
            f"unknown radar format {name!r}; known: {', '.join(reader_names())}"
        ) from None


def detect_format(data: bytes, name: str = "<bytes>") -> str:
    """The registry name of the format of (decompressed) ``data``, from its content."""
    if not data:
        raise FormatError(f"{name}: empty file")
    if is_radolan(data):
        return "radolan"
    foreign = detect_foreign(data, name)
    if foreign:
        return foreign
    if is_odim(data):
        return "odim"
    if is_netcdf(data):
        return "netcdf"
    if is_radolan_ascii(data):
        return "radolan-ascii"
    if data[:2] in (b"DX", b"PX", b"PL"):
        raise FormatError(
            f"{name}: single-radar polar data ({data[:2].decode()}) are not supported; "
            "send RADOLAN or ODIM composites"
        )
    if data[:2] in (b"RW", b"RY", b"RV", b"RX", b"YW", b"WX", b"EX"):
        raise FormatError(f"{name}: looks like RADOLAN but its header is damaged or incomplete")
    raise FormatError(
        f"{name}: unknown format (expected RADOLAN binary, ODIM_H5 or CF-NetCDF; "
        f"first bytes {data[:8]!r})"
    )


def read_blob(blob: Blob, fmt: str | None = None, **kwargs) -> xr.Dataset:
    """Read one decompressed file or archive member with its detected (or given) reader."""
    reader = get_reader(fmt or detect_format(blob.data, blob.name))
    return reader(blob, **kwargs)
