"""Recurrent cells by name. Each cell is one class in one module; :data:`CELLS` is the index the
model registry builds from. A new cell: subclass :class:`~models.cells.base.Cell`, add it here."""

from __future__ import annotations

from models.cells.base import Cell, CellOutput
from models.cells.convlstm import ConvLSTM
from models.cells.mim import MIM
from models.cells.mklstm import MKLSTM
from models.cells.motionrnn import MotionRNN
from models.cells.preciplstm import PrecipLSTM
from models.cells.predrnn import STLSTM, PredRNNV2
from models.cells.predrnnpp import CausalLSTM
from models.cells.trajgru import TrajGRU

CELLS: dict[str, type[Cell]] = {
    "convlstm": ConvLSTM,
    "mk-lstm": MKLSTM,
    "trajgru": TrajGRU,
    "predrnn": STLSTM,
    "predrnn++": CausalLSTM,
    "predrnn-v2": PredRNNV2,
    "mim": MIM,
    "motionrnn": MotionRNN,
    "preciplstm": PrecipLSTM,
}

__all__ = ["CELLS", "Cell", "CellOutput"]
