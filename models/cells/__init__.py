"""Recurrent cells by name. Each cell is one class in one module; :data:`CELLS` is the index the
model registry builds from. A new cell: subclass :class:`~models.cells.base.Cell`, add it here."""

from __future__ import annotations

from models.cells.base import Cell, CellOutput
from models.cells.convlstm import ConvLSTM
from models.cells.mklstm import MKLSTM

CELLS: dict[str, type[Cell]] = {
    "convlstm": ConvLSTM,
    "mk-lstm": MKLSTM,
}

__all__ = ["CELLS", "Cell", "CellOutput"]
