"""PredRNN's Spatiotemporal LSTM (Wang et al. 2017) and PredRNN-V2 (Wang et al. 2022)
(REFERENCE.md §3).

ST-LSTM: a ConvLSTM c-branch, a second branch for the zig-zag memory m with its own gates,
an output gate that sees both new memories and a 1x1 fusion of them:

    [i, f, g] = W*x + W*h          c' = σf⊙c + σi⊙tanh g
    [i', f', g'] = W*x + W*m        m' = σf'⊙m + σi'⊙tanh g'
    o = σ(W*x + W*h + W*c' + W*m')  h' = o⊙tanh(W_1x1*[c', m'])

One 3x3 conv of x gives its seven parts (i, f, g, i', f', g', o), one of h its four; c' and m'
enter the output gate through their own 3x3 convs. At hidden 64 that is 599,104 parameters per
layer, 3.595M for the 6-layer network with embedding and head (REFERENCE.md §2).

PredRNN-V2 is the same cell that also hands the stack its memory increments Δc = σi⊙tanh g and
Δm = σi'⊙tanh g' for the decoupling loss (the network's shared 1x1 adapter, 4,096 parameters,
brings it to 3.599M); its reverse scheduled sampling belongs to training, not to the cell.
"""

from __future__ import annotations

import torch

from models.cells.base import Cell, CellOutput, conv


class STLSTM(Cell):
    state_names = ("h", "c")
    memory = True

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, **kw) -> None:
        super().__init__(in_channels, hidden, kernel, **kw)
        self.conv_x = conv(in_channels, 7 * hidden, kernel)  # i, f, g, i', f', g', o
        self.conv_h = conv(hidden, 4 * hidden, kernel)  # i, f, g, o
        self.conv_m = conv(hidden, 3 * hidden, kernel)  # i', f', g'
        self.conv_co = conv(hidden, hidden, kernel)  # c' -> o
        self.conv_mo = conv(hidden, hidden, kernel)  # m' -> o
        self.conv_out = conv(2 * hidden, hidden, 1)  # [c', m'] -> h'

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        if m is None:
            raise ValueError(f"{type(self).__name__} needs the zig-zag memory m")
        h, c = state["h"], state["c"]
        xi, xf, xg, xi_m, xf_m, xg_m, xo = torch.chunk(self.conv_x(x), 7, dim=1)
        hi, hf, hg, ho = torch.chunk(self.conv_h(h), 4, dim=1)
        mi, mf, mg = torch.chunk(self.conv_m(m), 3, dim=1)

        delta_c = torch.sigmoid(xi + hi) * torch.tanh(xg + hg)
        c = torch.sigmoid(xf + hf) * c + delta_c
        delta_m = torch.sigmoid(xi_m + mi) * torch.tanh(xg_m + mg)
        m = torch.sigmoid(xf_m + mf) * m + delta_m

        o = torch.sigmoid(xo + ho + self.conv_co(c) + self.conv_mo(m))
        h = o * torch.tanh(self.conv_out(torch.cat([c, m], dim=1)))
        aux = {"delta_c": delta_c, "delta_m": delta_m} if self.decoupling else None
        return CellOutput(h, {"h": h, "c": c}, m, aux)


class PredRNNV2(STLSTM):
    """ST-LSTM that returns Δc and Δm for the network's decoupling loss."""

    decoupling = True
