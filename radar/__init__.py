"""radar: DWD radar data in and out, as the canonical sequence of DESIGN.md §3.

The entry points most callers need::

    from radar import read_sequence, write_netcdf
    ds = read_sequence(["raa01-ry_10000-2001011500-dwd---bin.gz", ...])
    write_netcdf(ds, "out.nc")
"""

from radar.exceptions import FormatError, RadarError, SequenceError, SizeLimitError
from radar.interface import get_reader, reader_names
from radar.netcdf import write_netcdf
from radar.sequence import read_sequence

__all__ = [
    "FormatError",
    "RadarError",
    "SequenceError",
    "SizeLimitError",
    "get_reader",
    "read_sequence",
    "reader_names",
    "write_netcdf",
]
