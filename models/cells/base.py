"""The contract between a recurrent cell and the stack that places it (REFERENCE.md §2-§3).

A cell is written once and knows nothing about scales: the stack hands it its input at the
layer's resolution, the zig-zag memory ``m`` and the previous input ``x_prev`` already resampled
to that resolution, and it returns the new hidden state (always ``state["h"]``), its other
states, the new ``m`` and any auxiliary tensors a loss needs (PredRNN-V2's Δc, Δm).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import nn

State = dict[str, torch.Tensor]


class CellOutput(NamedTuple):
    h: torch.Tensor
    state: State
    m: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] | None = None


def conv(in_channels: int, out_channels: int, kernel: int, bias: bool = True) -> nn.Conv2d:
    """A 'same' convolution, stride 1 (every convolution of the papers' cells)."""
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=bias)


class Cell(nn.Module):
    """Base class of every recurrent cell.

    Class attributes tell the stack what the cell needs:

    - ``state_names``: per-layer states of ``hidden`` channels at the layer's resolution,
      ``"h"`` first; :meth:`init_state` creates them as zeros (override for other shapes).
    - ``memory``: the cell reads and writes the zig-zag memory ``m`` (``hidden`` channels).
    - ``uses_prev_input``: the cell reads the layer's input of the previous step, ``x_prev``.
    - ``highway``: a module class the stack inserts before layer 1 (PredRNN++'s GHU).
    - ``decoupling``: the cell returns ``aux["delta_c"]`` and ``aux["delta_m"]`` (PredRNN-V2).
    """

    state_names: ClassVar[tuple[str, ...]] = ("h",)
    memory: ClassVar[bool] = False
    uses_prev_input: ClassVar[bool] = False
    highway: ClassVar[type[nn.Module] | None] = None
    decoupling: ClassVar[bool] = False

    def __init__(
        self, in_channels: int, hidden: int, kernel: int = 3, layer: int = 0, layers: int = 6
    ) -> None:
        super().__init__()
        self.in_channels, self.hidden, self.kernel = in_channels, hidden, kernel
        self.layer, self.layers = layer, layers

    def init_state(self, x: torch.Tensor) -> State:
        """Zero states shaped from the layer's input ``x`` (B, C, h, w): nothing is pre-sized."""
        b, _, h, w = x.shape
        return {n: x.new_zeros(b, self.hidden, h, w) for n in self.state_names}

    def forward(
        self,
        x: torch.Tensor,
        state: State,
        m: torch.Tensor | None = None,
        x_prev: torch.Tensor | None = None,
    ) -> CellOutput:
        raise NotImplementedError
