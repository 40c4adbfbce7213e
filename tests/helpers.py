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


def moving_blob_sequence(
    frames: int,
    height: int,
    width: int,
    velocity: tuple[float, float] = (2.0, -1.0),
    start: tuple[float, float] = (30.0, 55.0),
    sigma: float = 6.0,
    peak: float = 20.0,
):
    """A canonical sequence (on synthetic_sequence's grid) of one Gaussian rain cell of ``peak``
    mm/h moving ``velocity`` pixels a step (x right, y down) from ``start`` (x, y)."""
    from radar.synthetic import synthetic_sequence

    ds = synthetic_sequence(frames=frames, height=height, width=width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    (u, v), (x0, y0) = velocity, start
    rain = np.stack(
        [
            peak * np.exp(-((xx - x0 - u * t) ** 2 + (yy - y0 - v * t) ** 2) / (2 * sigma**2))
            for t in range(frames)
        ]
    )
    rain[rain < 0.1] = 0.0
    ds["rainfall_rate"].values[:] = rain.astype(np.float32)
    return ds


def centroid(field: np.ndarray) -> tuple[float, float]:
    """(x, y) centre of mass of a 2-D rain field in pixels (NaN counts as dry)."""
    field = np.nan_to_num(np.asarray(field, dtype=np.float64))
    yy, xx = np.mgrid[0 : field.shape[0], 0 : field.shape[1]]
    return float((field * xx).sum() / field.sum()), float((field * yy).sum() / field.sum())
