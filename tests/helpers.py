"""Independent decoders and writers used by the tests.

These read DWD files with plain numpy/h5py from the format description (REFERENCE.md §6),
so that the tests compare the readers against facts that do not come from the readers.
"""

from __future__ import annotations

import bz2
import gzip
import re
from pathlib import Path

import numpy as np


def raw_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    return data


def parse_radolan(data: bytes) -> tuple[dict, np.ndarray]:
    """Header tokens and the raw 2-D array (stored order: row 0 = south) of a RADOLAN file."""
    end = data.index(b"\x03")
    header = data[:end].decode("ascii")
    rows, cols = (int(v) for v in re.search(r"GP\s*(\d+)x\s*(\d+)", header).groups())
    precision = re.search(r"PR\s*E([-+]\d+)", header)
    interval = re.search(r"INT\s*(\d+)", header)
    info = {
        "product": header[:2],
        "rows": rows,
        "cols": cols,
        "precision": 10.0 ** int(precision.group(1)) if precision else None,
        "interval_min": int(interval.group(1)) if interval else None,
        "header": header,
    }
    body = data[end + 1 :]
    if len(body) >= rows * cols * 2 and header[:2] not in ("RX", "WX", "EX"):
        raw = np.frombuffer(body[: rows * cols * 2], dtype="<u2").reshape(rows, cols)
    else:
        raw = np.frombuffer(body[: rows * cols], dtype="u1").reshape(rows, cols)
    return info, raw


def radolan_bytes(
    product: str,
    raw: np.ndarray,
    when: str = "2024-07-01T12:05",
    precision_exp: int = -2,
    interval: int = 5,
    lead: int | None = None,
    version: int = 3,
) -> bytes:
    """Write a RADOLAN binary composite (uint16) for tests: ``raw`` is in stored order."""
    rows, cols = raw.shape
    y, mo, d = when[:10].split("-")
    hh, mm = when[11:13], when[14:16]
    vv = f"VV {lead:03d}MF 00000008" if lead is not None else ""
    body = np.ascontiguousarray(raw, dtype="<u2").tobytes()
    head = (
        f"{product}{d}{hh}{mm}10000{mo}{y[2:]}BY{len(body) + 200:>8d}VS{version:>2d}SW   2.21.0"
        f"PR E{precision_exp:+03d}INT{interval:>4d}GP{rows:>4d}x{cols:>4d}{vv}MS 10<boo,ros>"
    )
    # BY counts the whole file; pad the header so that the count is exact
    total = len(head) + 1 + len(body)
    head = head.replace(f"BY{len(body) + 200:>8d}", f"BY{total:>8d}")
    return head.encode("ascii") + b"\x03" + body
