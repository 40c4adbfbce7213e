"""radar.hdf5: what the HDF5-based readers share (ODIM_H5, KNMI, BoM Rainfields3): the file
signature and attribute values as text or numbers."""

from __future__ import annotations

import numpy as np

from radar.exceptions import FormatError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

#: What h5py (and xarray on it) raise for a damaged file or a hostile value in one: libhdf5's
#: own errors arrive as OSError or RuntimeError (a bad checksum found while looking up a
#: group), attributes of the wrong type or shape as the others (found by ``nowcast bench fuzz``).
DAMAGED = (OSError, RuntimeError, KeyError, ValueError, IndexError, TypeError, OverflowError,
           ZeroDivisionError)  # fmt: skip


def is_hdf5(data: bytes) -> bool:
    return data[:8] == HDF5_MAGIC


def attr_text(value) -> str:
    """An HDF5/netCDF attribute as text (bytes, numpy bytes, or a one-element array of them)."""
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("ascii", "replace")
    return str(value)


def attr_number(value) -> float:
    """An attribute as a number; a :class:`FormatError` when it is none (text, empty)."""
    try:
        return float(np.asarray(value).ravel()[0])
    except (ValueError, TypeError, IndexError):
        raise FormatError(f"attribute value {value!r} is not a number") from None
