"""ConvLSTM (Shi et al. 2015), without peepholes (REFERENCE.md §3)."""

from __future__ import annotations

import torch

from models.cells.base import Cell, CellOutput, conv


def lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(i, f, g, o) pre-activations -> new (c, pre-activation o); shared by the LSTM family."""
    i, f, g, o = torch.chunk(gates, 4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return c_new, o


class ConvLSTM(Cell):
    state_names = ("h", "c")

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, **kw) -> None:
        super().__init__(in_channels, hidden, kernel, **kw)
        self.conv_x = conv(in_channels, 4 * hidden, kernel)
        self.conv_h = conv(hidden, 4 * hidden, kernel)

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        c, o = lstm_update(self.conv_x(x) + self.conv_h(state["h"]), state["c"])
        h = torch.sigmoid(o) * torch.tanh(c)
        return CellOutput(h, {"h": h, "c": c})
