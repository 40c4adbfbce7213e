"""Import pysteps modules quietly: pysteps prints where it found its configuration on import."""

from __future__ import annotations

import contextlib
import importlib
import io
from types import ModuleType

from radar.exceptions import MissingOptionalDependency


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
