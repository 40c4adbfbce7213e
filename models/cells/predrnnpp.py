"""PredRNN++ (Wang et al. 2018): the Causal LSTM and the Gradient Highway Unit (REFERENCE.md §3).

Causal LSTM: the cell memory c and the zig-zag memory m are updated in cascade, m's gates seeing
the new c':

    [i, f, g] = W*x + W*h + W*c          c' = σf⊙c + σi⊙tanh g
    [i', f', g'] = W*x + W*c' + W*m      m' = σf'⊙tanh(W_1x1*m) + σi'⊙tanh g'
    o = tanh(W*x + W*c' + W*m')          h' = o⊙tanh(W_1x1*[c', m'])

One 3x3 conv of x gives its seven parts (i, f, g, i', f', g', o), one of c' its four
(i', f', g', o); h, c and m have their own 3x3 convs, m' one to the output gate.

GHU: [p, s] = W*x + W*z, z' = σs⊙tanh p + (1-σs)⊙z; its output z' replaces layer 1's input. The
stack creates exactly one GHU (the cell's ``highway`` class attribute) and runs it before layer 1,
at layer 1's resolution (H/2 in the MS pyramid). The reference code builds a GHU in every one of
its 6 layers but uses only one: the 5 unused copies (5 x 147,712 = 0.74M parameters) are not
built here. Hence at hidden 64 this network has 6 x 787,904 + 147,712 + 193 = 4.875M
parameters, against REFERENCE.md §2's 5.609M - 0.74M = 4.87M (0.1 % above).
"""

from __future__ import annotations

import torch
from torch import nn

from models.cells.base import Cell, CellOutput, conv


class GHU(nn.Module):
    """Gradient Highway Unit: a gated shortcut that carries z across time steps."""

    def __init__(self, hidden: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv_x = conv(hidden, 2 * hidden, kernel)  # p, s
        self.conv_z = conv(hidden, 2 * hidden, kernel)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        p, s = torch.chunk(self.conv_x(x) + self.conv_z(z), 2, dim=1)
        s = torch.sigmoid(s)
        return s * torch.tanh(p) + (1 - s) * z


class CausalLSTM(Cell):
    state_names = ("h", "c")
    memory = True
    highway = GHU

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, **kw) -> None:
        super().__init__(in_channels, hidden, kernel, **kw)
        self.conv_x = conv(in_channels, 7 * hidden, kernel)  # i, f, g, i', f', g', o
        self.conv_h = conv(hidden, 3 * hidden, kernel)  # i, f, g
        self.conv_c = conv(hidden, 3 * hidden, kernel)  # i, f, g
        self.conv_c2m = conv(hidden, 4 * hidden, kernel)  # c' -> i', f', g', o
        self.conv_m = conv(hidden, 3 * hidden, kernel)  # i', f', g'
        self.conv_mm = conv(hidden, hidden, 1)  # m -> the forgotten part of m'
        self.conv_mo = conv(hidden, hidden, kernel)  # m' -> o
        self.conv_out = conv(2 * hidden, hidden, 1)  # [c', m'] -> h'

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        if m is None:
            raise ValueError("CausalLSTM needs the zig-zag memory m")
        h, c = state["h"], state["c"]
        xi, xf, xg, xi_m, xf_m, xg_m, xo = torch.chunk(self.conv_x(x), 7, dim=1)
        hi, hf, hg = torch.chunk(self.conv_h(h), 3, dim=1)
        ci, cf, cg = torch.chunk(self.conv_c(c), 3, dim=1)

        f, i = torch.sigmoid(xf + hf + cf), torch.sigmoid(xi + hi + ci)
        c = f * c + i * torch.tanh(xg + hg + cg)

        ki, kf, kg, ko = torch.chunk(self.conv_c2m(c), 4, dim=1)
        mi, mf, mg = torch.chunk(self.conv_m(m), 3, dim=1)
        f_m, i_m = torch.sigmoid(xf_m + kf + mf), torch.sigmoid(xi_m + ki + mi)
        m = f_m * torch.tanh(self.conv_mm(m)) + i_m * torch.tanh(xg_m + kg + mg)

        o = torch.tanh(xo + ko + self.conv_mo(m))
        h = o * torch.tanh(self.conv_out(torch.cat([c, m], dim=1)))
        return CellOutput(h, {"h": h, "c": c}, m)
