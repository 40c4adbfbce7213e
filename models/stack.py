"""The recurrent stack: six layers of one cell, flat or as the MS-RNN spatial pyramid.

One class does both (REFERENCE.md §2): a layer's *scale* says at which fraction of the input
resolution its states live. Flat: every layer at scale 1. MS: 1, 2, 4, 4, 2, 1 with max-pooling
down, parameter-free bilinear up, and skips that add the encoder-side layer's new hidden state
(layer 4 gets layer 1's, layer 5 gets layer 0's). So MS adds no parameter to its flat twin.
Every tensor that crosses layers (h, the zig-zag memory m, the previous input x_{t-1}) is
resampled here, never inside a cell.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.cells.base import Cell, State

FLAT_SCALES = (1, 1, 1, 1, 1, 1)
MS_SCALES = (1, 2, 4, 4, 2, 1)
MS_SKIPS = {4: 1, 5: 0}  # decoder layer -> encoder layer whose hidden state it adds


def resample(x: torch.Tensor, from_scale: int, to_scale: int, like: torch.Tensor) -> torch.Tensor:
    """Bring ``x`` from one pyramid scale to another: max-pool down, bilinear up to ``like``."""
    if to_scale > from_scale:
        return F.max_pool2d(x, to_scale // from_scale)
    if to_scale < from_scale:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return x


class StackState:
    """Everything the stack carries from one time step to the next."""

    def __init__(self, layers: list[State], m: torch.Tensor | None, prev: list, z) -> None:
        self.layers, self.m, self.prev, self.z = layers, m, prev, z


class RecurrentStack(nn.Module):
    def __init__(
        self,
        cell: type[Cell],
        hidden: int = 64,
        layers: int = 6,
        kernel: int = 3,
        multiscale: bool = False,
    ) -> None:
        super().__init__()
        if multiscale and layers != len(MS_SCALES):
            raise ValueError(f"the MS pyramid has {len(MS_SCALES)} layers, not {layers}")
        self.scales = MS_SCALES if multiscale else (1,) * layers
        self.skips = MS_SKIPS if multiscale else {}
        self.hidden = hidden
        self.cell_type = cell
        self.cells = nn.ModuleList(
            cell(hidden, hidden, kernel, layer=i, layers=layers) for i in range(layers)
        )
        self.highway = cell.highway(hidden, kernel) if cell.highway is not None else None

    @property
    def stride(self) -> int:
        """Input H and W must be multiples of this (2 pooling steps in the pyramid)."""
        return max(self.scales)

    def init_state(self, x: torch.Tensor) -> StackState:
        """Zero states for an embedded input ``x`` (B, hidden, H, W): shapes follow the input."""
        refs = [torch.zeros_like(F.max_pool2d(x, s) if s > 1 else x) for s in self.scales]
        layers = [cell.init_state(ref) for cell, ref in zip(self.cells, refs, strict=True)]
        m = torch.zeros_like(refs[0]) if self.cell_type.memory else None
        prev = list(refs) if self.cell_type.uses_prev_input else [None] * len(refs)
        z = torch.zeros_like(refs[1]) if self.highway is not None else None
        return StackState(layers, m, prev, z)

    def forward(self, x: torch.Tensor, st: StackState) -> tuple[torch.Tensor, StackState, list]:
        """One time step: embedded input -> top hidden state, new state, per-layer aux."""
        hs: list[torch.Tensor] = []
        new_layers, new_prev, aux = [], [], []
        m, z = st.m, st.z
        inp, scale = x, self.scales[0]
        for i, cell in enumerate(self.cells):
            s = self.scales[i]
            like = st.layers[i]["h"]
            if i > 0:
                inp = resample(hs[-1], self.scales[i - 1], s, like)
                if i in self.skips:
                    inp = inp + hs[self.skips[i]]
                if m is not None:
                    m = resample(m, scale, s, like)
                if i == 1 and self.highway is not None:
                    z = self.highway(inp, z)
                    inp = z
            scale = s
            out = cell(inp, st.layers[i], m, st.prev[i])
            hs.append(out.h)
            new_layers.append(out.state)
            new_prev.append(inp if self.cell_type.uses_prev_input else None)
            m = out.m
            aux.append(out.aux)
        if m is not None:  # m leaving the top layer enters layer 0 at the next step
            m = resample(m, scale, self.scales[0], st.layers[0]["h"])
        return hs[-1], StackState(new_layers, m, new_prev, z), aux
