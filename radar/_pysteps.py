"""Import pysteps quietly: it prints where it found its configuration file on first import."""

from __future__ import annotations

import contextlib
import importlib
import io
from types import ModuleType


def pysteps_module(name: str) -> ModuleType:
    """``importlib.import_module(name)`` for a pysteps module, without the import-time print."""
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(name)
