"""MIM, Memory In Memory (Wang et al. 2019), in the form the MS-RNN paper uses (REFERENCE.md §3).

Layer 0 is an ST-LSTM: ConvLSTM c-branch, PredRNN m-branch, o = σ(o + W*c' + W*m'),
h' = o⊙tanh(W_1x1*[c', m']). Layers >= 1 are MIM blocks: the forget path of c is replaced by two
LSTM-like units,

- MIM-N (non-stationary, state n), driven by the difference d = x - x_prev of the layer's input:
  [i, f, g] = W*d + W*n, n' = σf⊙n + σi⊙tanh g, D = σ(W*d + W*n')⊙tanh n';
- MIM-S (stationary, state s), driven by D and the previous c:
  [i, f, g, o] = W*D + W*c, s' = σf⊙s + σi⊙tanh g, T = σ(o + W*s')⊙tanh s';

and c' = T + σi⊙tanh g, where [i, g, o] come from W*x + W*h (no forget gate). The m-branch and
the output are ST-LSTM's.

Parameters: the reference code builds MIM-N and MIM-S in layer 0 too (computed, never used) and
a forget gate in layers >= 1 (computed, never used); they get no gradient, so they are not built
here. At 64 channels this leaves 6.364M parameters instead of the table's 7.361M; the difference
is exactly those unused weights (17 + 5 x 2 convolutions of 64->64 channels, 3x3).
"""

from __future__ import annotations

import torch
from torch import nn

from models.cells._memory import OutputGate, memory_update
from models.cells.base import Cell, CellOutput, State, conv
from models.cells.convlstm import lstm_update


class MIMN(nn.Module):
    """Non-stationary unit: an LSTM on the temporal difference of the input."""

    def __init__(self, in_channels: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv_d = conv(in_channels, 4 * hidden, kernel)  # [i, f, g | o] from d
        self.conv_n = conv(hidden, 3 * hidden, kernel)  # [i, f, g] from n
        self.conv_no = conv(hidden, hidden, kernel)  # output peephole on n'

    def forward(self, d: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates, o = self.conv_d(d).split([3 * self.hidden, self.hidden], dim=1)
        n = memory_update(gates + self.conv_n(n), n)
        return torch.sigmoid(o + self.conv_no(n)) * torch.tanh(n), n


class MIMS(nn.Module):
    """Stationary unit: an LSTM driven by MIM-N's output and the previous cell memory c."""

    def __init__(self, hidden: int, kernel: int) -> None:
        super().__init__()
        self.conv_d = conv(hidden, 4 * hidden, kernel)
        self.conv_c = conv(hidden, 4 * hidden, kernel)
        self.conv_so = conv(hidden, hidden, kernel)

    def forward(
        self, dn: torch.Tensor, c: torch.Tensor, s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s, o = lstm_update(self.conv_d(dn) + self.conv_c(c), s)
        return torch.sigmoid(o + self.conv_so(s)) * torch.tanh(s), s


class MIM(Cell):
    """ST-LSTM in layer 0, MIM block in layers >= 1 (states h, c and, with blocks, n, s)."""

    state_names = ("h", "c", "n", "s")
    memory = True
    uses_prev_input = True

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, **kw) -> None:
        super().__init__(in_channels, hidden, kernel, **kw)
        self.blocks = self.layer >= 1
        self.c_gates = 3 if self.blocks else 4  # MIM-S replaces the forget gate
        self.conv_x = conv(in_channels, (self.c_gates + 3) * hidden, kernel)  # c | m gates
        self.conv_h = conv(hidden, self.c_gates * hidden, kernel)
        self.conv_m = conv(hidden, 3 * hidden, kernel)
        self.out = OutputGate(hidden, kernel, 2)
        if self.blocks:
            self.mim_n = MIMN(in_channels, hidden, kernel)
            self.mim_s = MIMS(hidden, kernel)

    def init_state(self, x: torch.Tensor) -> State:
        b, _, h, w = x.shape
        names = ("h", "c", "n", "s") if self.blocks else ("h", "c")
        return {n: x.new_zeros(b, self.hidden, h, w) for n in names}

    def _step(
        self, x: torch.Tensor, state: State, m: torch.Tensor, x_prev: torch.Tensor
    ) -> tuple[torch.Tensor, State, torch.Tensor, torch.Tensor]:
        """The MIM update: new h, new states (without h), new m and the output gate o."""
        xc, xm = self.conv_x(x).split([self.c_gates * self.hidden, 3 * self.hidden], dim=1)
        gates = xc + self.conv_h(state["h"])
        m = memory_update(xm + self.conv_m(m), m)
        if self.blocks:
            dn, n = self.mim_n(x - x_prev, state["n"])
            t, s = self.mim_s(dn, state["c"], state["s"])
            i, g, o = torch.chunk(gates, 3, dim=1)
            c = t + torch.sigmoid(i) * torch.tanh(g)
            new = {"c": c, "n": n, "s": s}
        else:
            c, o = lstm_update(gates, state["c"])
            new = {"c": c}
        h, o = self.out(o, [c, m])
        return h, new, m, o

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        h, new, m, _ = self._step(x, state, m, x_prev)
        return CellOutput(h, {"h": h, **new}, m)
