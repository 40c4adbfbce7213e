"""MK-LSTM, the cell of MS-LSTM: two ConvLSTM gate sets (3x3 and 5x5) on the same (x, h), two
cell memories, one output gate that sees both (REFERENCE.md §3)."""

from __future__ import annotations

import torch

from models.cells.base import Cell, CellOutput, conv
from models.cells.convlstm import lstm_update


class MKLSTM(Cell):
    state_names = ("h", "c3", "c5")

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, **kw) -> None:
        super().__init__(in_channels, hidden, kernel, **kw)
        big = kernel + 2
        self.conv_x3 = conv(in_channels, 4 * hidden, kernel)
        self.conv_h3 = conv(hidden, 4 * hidden, kernel)
        self.conv_x5 = conv(in_channels, 4 * hidden, big)
        self.conv_h5 = conv(hidden, 4 * hidden, big)
        self.conv_c3 = conv(hidden, hidden, kernel)
        self.conv_c5 = conv(hidden, hidden, big)
        self.conv_out = conv(2 * hidden, hidden, 1)

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        h = state["h"]
        c3, o3 = lstm_update(self.conv_x3(x) + self.conv_h3(h), state["c3"])
        c5, o5 = lstm_update(self.conv_x5(x) + self.conv_h5(h), state["c5"])
        o = torch.sigmoid(o3 + o5 + self.conv_c3(c3) + self.conv_c5(c5))
        h = o * torch.tanh(self.conv_out(torch.cat([c3, c5], dim=1)))
        return CellOutput(h, {"h": h, "c3": c3, "c5": c5})
