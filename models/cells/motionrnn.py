"""MotionRNN on MIM (Wu et al. 2021), k = 3, α = 0.5 (REFERENCE.md §3).

Every layer but the last runs a MotionGRU on its new hidden state h' (from the MIM cell of
:mod:`models.cells.mim`) at half the layer's resolution:

- encode: E = W_2x2,stride 2 * h' (hidden/4 channels);
- transient motion: u = σ(W*[E, F]), r = σ(W*[E, F]), z = tanh(W*[E, r⊙F]),
  F' = u⊙z + (1-u)⊙F; trend: D' = D + α(F - D); motion F'' = F' + D' (k² two-channel flows);
- warp E by each flow (bilinear grid sampling), weight by masks σ(W*E), fuse (1x1) and decode
  with a 4x4 stride-2 transposed convolution back to the layer's resolution;
- gate with h': g = σ(W*[dec, h']), X = g⊙h' + (1-g)⊙dec;

then the motion highway: h = X + (1-o)⊙x, where o is the cell's output gate and x its input.
The last layer keeps h' (its MotionGRU would be unused, so it is not built; the reference builds
one, 33,179 parameters at 64 channels, on top of the MIM weights described in mim.py).

Any frame size works: the encoder input is zero-padded by one row and column (2x2 stride-2 conv
over H+1 gives ceil(H/2) rows, and at even H the extra row is never read), the decoder output
(2·ceil(H/2)) is cropped back to H x W. The reference crashes at odd levels (31 -> 15 -> 30).
The motion states F, D (2k² channels at ceil(h/2) x ceil(w/2)) are built from the input by
pooling, so ONNX graphs keep dynamic H, W. Flows are laid out as k² consecutive (dx, dy) pairs,
in pixels of the encoded grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.cells.base import CellOutput, State, conv
from models.cells.mim import MIM


def _half(x: torch.Tensor) -> torch.Tensor:
    """``x`` at ceil(h/2) x ceil(w/2): the grid of the MotionGRU (pad one, 2x2 stride 2)."""
    return F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 2)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` (N, C, h, w) at p + flow(p) (N, 2, h, w; dx, dy in pixels), bilinear, zeros
    outside. The sampling grid is built from the runtime shape (no Python sizes)."""
    ones = torch.ones_like(flow[:, :1])
    xs = ones.cumsum(3) - 1  # pixel column, row and the frame size, all shape-following
    ys = ones.cumsum(2) - 1
    w = ones.sum(3, keepdim=True)
    h = ones.sum(2, keepdim=True)
    gx = (2 * (xs + flow[:, :1]) + 1) / w - 1  # align_corners=False normalisation
    gy = (2 * (ys + flow[:, 1:]) + 1) / h - 1
    grid = torch.cat([gx, gy], dim=1).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class MotionGRU(nn.Module):
    """Transient + trend motion at half resolution; returns X (gated with h), F'', D'."""

    def __init__(self, hidden: int, k: int = 3, alpha: float = 0.5) -> None:
        super().__init__()
        self.k2, self.alpha = k * k, alpha
        enc, motion = max(hidden // 4, 1), 2 * k * k
        self.enc = nn.Conv2d(hidden, enc, 2, stride=2)
        self.conv_u = conv(enc + motion, motion, 1)
        self.conv_r = conv(enc + motion, motion, 1)
        self.conv_z = conv(enc + motion, motion, 1)
        self.conv_mask = conv(enc, self.k2, 1)
        self.conv_fuse = conv(enc * self.k2, enc, 1)
        self.dec = nn.ConvTranspose2d(enc, hidden, 4, stride=2, padding=1)
        self.conv_gate = conv(2 * hidden, hidden, 1)

    def init_motion(self, x: torch.Tensor) -> torch.Tensor:
        """Zero motion state (B, 2k², ceil(h/2), ceil(w/2)) shaped from ``x`` (B, C, h, w)."""
        return torch.zeros_like(_half(x[:, :1])).repeat(1, 2 * self.k2, 1, 1)

    def forward(
        self, h: torch.Tensor, f: torch.Tensor, d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e = self.enc(F.pad(h, (0, 1, 0, 1)))
        ef = torch.cat([e, f], dim=1)
        u = torch.sigmoid(self.conv_u(ef))
        r = torch.sigmoid(self.conv_r(ef))
        z = torch.tanh(self.conv_z(torch.cat([e, r * f], dim=1)))
        transient = u * z + (1 - u) * f
        d = d + self.alpha * (f - d)
        f = transient + d
        # k² warped copies of E, batched as (B·k², C, h/2, w/2)
        b, c, hh, ww = e.shape
        copies = e.unsqueeze(1).expand(-1, self.k2, -1, -1, -1).reshape(-1, c, hh, ww)
        warped = warp(copies, f.reshape(-1, 2, hh, ww)).reshape(b, self.k2, c, hh, ww)
        warped = warped * torch.sigmoid(self.conv_mask(e)).unsqueeze(2)
        fused = self.conv_fuse(warped.reshape(b, self.k2 * c, hh, ww))
        dec = self.dec(fused)[..., : h.shape[-2], : h.shape[-1]]
        g = torch.sigmoid(self.conv_gate(torch.cat([dec, h], dim=1)))
        return g * h + (1 - g) * dec, f, d


class MotionRNN(MIM):
    """MIM cell + MotionGRU and motion highway in every layer but the last.

    States: MIM's (``h, c`` in layer 0, ``h, c, n, s`` above) plus, where a MotionGRU runs, the
    transient and trend motion ``f, d`` (2k² channels at half resolution, see :meth:`init_state`).
    """

    def __init__(
        self, in_channels: int, hidden: int, kernel: int = 3, k: int = 3, alpha: float = 0.5, **kw
    ) -> None:
        super().__init__(in_channels, hidden, kernel, **kw)
        last = self.layer == self.layers - 1
        self.motion = None if last else MotionGRU(hidden, k, alpha)

    def init_state(self, x: torch.Tensor) -> State:
        state = super().init_state(x)
        if self.motion is not None:
            state["f"] = self.motion.init_motion(x)
            state["d"] = self.motion.init_motion(x)
        return state

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        h, new, m, o = self._step(x, state, m, x_prev)
        if self.motion is not None:
            moved, f, d = self.motion(h, state["f"], state["d"])
            h = moved + (1 - o) * x  # motion highway
            new.update(f=f, d=d)
        return CellOutput(h, {"h": h, **new}, m)
