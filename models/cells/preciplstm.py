"""PrecipLSTM (Ma et al. 2022) as used by MS-RNN (REFERENCE.md §3).

x_a = x + W*LocalAttention(x); then four memories:

- ConvLSTM c: [i, f, g, o] = W*x_a + W*h, c' = σf⊙c + σi⊙tanh g;
- PredRNN m (zig-zag): [i, f, g] = W*x_a + W*m, m' = σf⊙m + σi⊙tanh g;
- spatial ms: [i, f, g] = W*x_a + W*ms, ms' likewise;
- temporal-difference mt: [i, f, g] = W*(x - x_prev) + W*mt, mt' likewise;

O = σ(o + W*c' + W*ms' + W*mt' + W*m'), h' = O⊙tanh(W_1x1*[c', ms', mt', m']).

Local attention, and how it departs from the reference: the reference uses a custom CUDA op in
which every pixel attends to the 30x30 neighbourhood centred on it (zero-padded keys take part
in the softmax, no 1/sqrt(d) scaling). A sliding neighbourhood in plain tensor ops (F.unfold)
materialises window² x C values per pixel: at 1200x1100 with patch 4 (300x275) and 64 channels
that is 19 GB for a 30x30 window. Here the frame is instead cut into non-overlapping
``window`` x ``window`` tiles (padded up to a multiple of the window with F.pad computed from the
runtime shape; padded keys are masked out, padded queries cropped), and each pixel attends to
all pixels of its tile with softmax(q kᵀ/sqrt(C)) v. The cost is H·W·window² scores per call:
with the default window 16, 300x275 holds about 90 MB of scores (measured eager peak of one
call about 0.34 GB); a 30 window would hold 300 MB, per layer and step when training. A pixel
near a tile border sees only one side of it; the receptive field still grows through the 3x3
convolutions and the recurrence. The q/k/v 1x1 convolutions (one conv with 3C outputs) have
biases here, the reference's have none: 1,152 parameters more at 64 channels, 7.042M instead of
7.041M.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.cells._memory import OutputGate, memory_update
from models.cells.base import Cell, CellOutput, conv
from models.cells.convlstm import lstm_update


def _tiles(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, C, H, W), H and W multiples of ``window`` -> (B·tiles, window², C)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // window, window, w // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window * window, c)


def _untile(t: torch.Tensor, like: torch.Tensor, window: int) -> torch.Tensor:
    """Inverse of :func:`_tiles` for a tensor shaped like ``like`` (B, C, H, W)."""
    b, c, h, w = like.shape
    t = t.reshape(b, h // window, w // window, window, window, c)
    return t.permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)


class LocalAttention(nn.Module):
    """Self-attention within non-overlapping ``window`` x ``window`` tiles (q, k, v: 1x1)."""

    def __init__(self, channels: int, window: int = 16) -> None:
        super().__init__()
        self.window = window
        self.qkv = conv(channels, 3 * channels, 1)  # q, k and v 1x1 convolutions in one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        win = self.window
        h, w = x.shape[-2:]
        pad = (0, (win - w % win) % win, 0, (win - h % win) % win)
        q, k, v = torch.chunk(F.pad(self.qkv(x), pad), 3, dim=1)  # padded (B, C, H', W')
        valid = F.pad(torch.ones_like(x[:, :1]), pad)  # 1 on the frame, 0 on the padding
        keep = _tiles(valid, win).transpose(1, 2) > 0.5  # (B·tiles, 1, window²)
        qt, kt, vt = (_tiles(t, win) for t in (q, k, v))
        scores = torch.matmul(qt, kt.transpose(1, 2)) / math.sqrt(qt.shape[-1])
        scores = scores.masked_fill(~keep, float("-inf"))
        out = torch.matmul(torch.softmax(scores, dim=-1), vt)
        return _untile(out, q, win)[..., :h, :w]


class PrecipLSTM(Cell):
    state_names = ("h", "c", "ms", "mt")
    memory = True
    uses_prev_input = True

    def __init__(
        self, in_channels: int, hidden: int, kernel: int = 3, window: int = 16, **kw
    ) -> None:
        super().__init__(in_channels, hidden, kernel, **kw)
        self.attention = LocalAttention(in_channels, window)
        self.conv_att = conv(in_channels, in_channels, kernel)
        self.conv_x = conv(in_channels, 10 * hidden, kernel)  # c [i,f,g,o] | m [i,f,g] | ms
        self.conv_h = conv(hidden, 4 * hidden, kernel)
        self.conv_m = conv(hidden, 3 * hidden, kernel)
        self.conv_ms = conv(hidden, 3 * hidden, kernel)
        self.conv_d = conv(in_channels, 3 * hidden, kernel)
        self.conv_mt = conv(hidden, 3 * hidden, kernel)
        self.out = OutputGate(hidden, kernel, 4)

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        hd = self.hidden
        xa = x + self.conv_att(self.attention(x))
        xc, xm, xs = self.conv_x(xa).split([4 * hd, 3 * hd, 3 * hd], dim=1)
        c, o = lstm_update(xc + self.conv_h(state["h"]), state["c"])
        m = memory_update(xm + self.conv_m(m), m)
        ms = memory_update(xs + self.conv_ms(state["ms"]), state["ms"])
        mt = memory_update(self.conv_d(x - x_prev) + self.conv_mt(state["mt"]), state["mt"])
        h, _ = self.out(o, [c, ms, mt, m])
        return CellOutput(h, {"h": h, "c": c, "ms": ms, "mt": mt}, m)
