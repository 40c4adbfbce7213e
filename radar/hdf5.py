"""radar.hdf5: what the HDF5-based readers share (ODIM_H5, KNMI, BoM Rainfields3): the file
signature and attribute values as text or numbers."""

from __future__ import annotations

import numpy as np

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
    return float(np.asarray(value).ravel()[0])
