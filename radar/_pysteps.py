"""Import pysteps modules quietly (pysteps prints where it found its configuration on import),
and run its importers on bytes (they read files)."""

from __future__ import annotations

import contextlib
import importlib
import io
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

from radar.exceptions import FormatError, MissingOptionalDependency
from radar.grids import edges_to_centres
from radar.sources import Blob


def pysteps_module(name: str, needed_for: str = "this") -> ModuleType:
    """``importlib.import_module(name)`` for a pysteps module, without the import-time print;
    a missing pysteps raises :class:`MissingOptionalDependency` saying what needed it."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module(name)
    except ImportError as exc:
        raise MissingOptionalDependency(
            f"{needed_for} needs pysteps (pip install pysteps); it could not be imported: {exc}"
        ) from None


def run_importer(blob: Blob, filename: str, importer: str, **kwargs) -> tuple:
    """Run a pysteps importer on the blob's bytes, written to a temporary file ``filename``."""
    module = pysteps_module("pysteps.io.importers", "reading MeteoSwiss GIF and FMI PGM composites")
    with tempfile.TemporaryDirectory(prefix="radar-pysteps-") as folder:
        path = Path(folder) / filename
        path.write_bytes(blob.data)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                return getattr(module, importer)(str(path), **kwargs)
        except Exception as exc:  # pysteps, PIL and matplotlib raise many types
            if type(exc).__name__ == "MissingOptionalDependency":
                raise MissingOptionalDependency(f"{blob.name}: {exc}") from None
            raise FormatError(
                f"{blob.name}: unreadable file ({type(exc).__name__}: {exc})"
            ) from None


def pixel_centres(
    meta: dict, shape: tuple[int, int], name: str, grid: str
) -> tuple[np.ndarray, np.ndarray]:
    """x and y pixel centres of an image that a pysteps importer read with ``meta`` (corners
    ``x1, x2, y1, y2``, pixel sizes, yorigin "upper": row 0 is north); a :class:`FormatError`
    when the image of ``shape`` does not fit the corners (``grid`` names them)."""
    rows, cols = shape
    dx, dy = float(meta["xpixelsize"]), float(meta["ypixelsize"])
    if not (dx > 0 and dy > 0):  # a header of the file may say anything (fuzzing found 0)
        raise FormatError(f"{name}: pixel size {dx:g} x {dy:g} is not positive")
    fits_x = (meta["x2"] - meta["x1"]) / dx
    fits_y = (meta["y2"] - meta["y1"]) / dy
    if abs(fits_x - cols) > 0.01 or abs(fits_y - rows) > 0.01:
        raise FormatError(
            f"{name}: image of {rows}x{cols} pixels does not fit {grid} ({fits_y:g}x{fits_x:g})"
        )
    x = edges_to_centres(float(meta["x1"]), dx, cols)
    y = edges_to_centres(float(meta["y2"]), -dy, rows)
    return x, y
