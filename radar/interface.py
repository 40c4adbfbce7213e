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

Every format has one module (``radar/<format>.py`` with ``is_<format>`` and ``read_<format>``)
and one row in :data:`FORMATS`, the only registry: names, aliases, detection and reader. Rows
are tried in order, the specific before the generic: KNMI and BoM files are HDF5/netCDF too, so
they are asked before ODIM and CF-NetCDF. Single-frame readers end in the same tail,
:func:`radar.canonical.one_frame` (Z-R, dBZ attributes, ``keep_dbz``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import xarray as xr

from radar.bom import is_bom_rf3, read_bom_rf3
from radar.exceptions import FormatError
from radar.fmi import is_fmi_pgm, read_fmi_pgm
from radar.knmi import is_knmi_hdf5, read_knmi_hdf5
from radar.mch import is_mch_gif, read_mch_gif
from radar.netcdf import is_netcdf, read_netcdf
from radar.odim import is_odim, read_odim
from radar.radolan import is_radolan, read_radolan
from radar.radolan_ascii import is_radolan_ascii, read_radolan_ascii
from radar.sources import Blob

Reader = Callable[..., xr.Dataset]


@dataclass(frozen=True)
class Format:
    """One readable format: its registry name, aliases, content test and reader."""

    name: str
    aliases: tuple[str, ...]
    detect: Callable[[bytes, str], bool]  # (decompressed data, file name) -> is it this format
    read: Reader


def _content(test: Callable[[bytes], bool]) -> Callable[[bytes, str], bool]:
    """A detector that looks at the data only (most formats say who they are)."""
    return lambda data, name: test(data)


#: Every format, in detection order (the file name helps only where the content is silent).
FORMATS: tuple[Format, ...] = (
    Format("radolan", ("radolan-binary", "binary", "bin"), _content(is_radolan), read_radolan),
    Format("knmi-hdf5", ("knmi", "knmi-pcp-na"), _content(is_knmi_hdf5), read_knmi_hdf5),
    Format("bom-rf3", ("bom", "rainfields3", "rf3"), is_bom_rf3, read_bom_rf3),
    Format("mch-gif", ("mch", "meteoswiss", "gif"), is_mch_gif, read_mch_gif),
    Format("fmi-pgm", ("fmi", "pgm"), is_fmi_pgm, read_fmi_pgm),
    Format("odim", ("odim-h5", "odim_h5", "hdf5", "h5"), _content(is_odim), read_odim),
    Format("netcdf", ("cf-netcdf", "nc"), _content(is_netcdf), read_netcdf),
    Format("radolan-ascii", ("asc", "ascii"), _content(is_radolan_ascii), read_radolan_ascii),
)

_readers: dict[str, Reader] = {f.name: f.read for f in FORMATS}
_aliases: dict[str, str] = {alias: f.name for f in FORMATS for alias in f.aliases}


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
    for fmt in FORMATS:
        if fmt.detect(data, name):
            return fmt.name
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
