"""Small pieces shared by the cells with a zig-zag memory that are built here (MIM, MotionRNN,
PrecipLSTM): the three-gate memory update of PredRNN's m-branch and the output gate that looks
at several memories (REFERENCE.md §3)."""

from __future__ import annotations

import torch
from torch import nn

from models.cells.base import conv


def memory_update(gates: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
    """(i, f, g) pre-activations -> new memory σf⊙mem + σi⊙tanh g (ST-LSTM's m-branch)."""
    i, f, g = torch.chunk(gates, 3, dim=1)
    return torch.sigmoid(f) * mem + torch.sigmoid(i) * torch.tanh(g)


class OutputGate(nn.Module):
    """o = σ(o_pre + Σ_k W_k * mem_k); h' = o ⊙ tanh(W_1x1 * [mem_1, ..., mem_K]).

    With K = 2 and memories (c', m') this is ST-LSTM's output; PrecipLSTM uses K = 4.
    Returns h' and the gate o (MotionRNN's highway needs it).
    """

    def __init__(self, hidden: int, kernel: int, memories: int) -> None:
        super().__init__()
        self.peek = nn.ModuleList(conv(hidden, hidden, kernel) for _ in range(memories))
        self.fuse = conv(memories * hidden, hidden, 1)

    def forward(
        self, o: torch.Tensor, mems: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for peek, mem in zip(self.peek, mems, strict=True):
            o = o + peek(mem)
        o = torch.sigmoid(o)
        return o * torch.tanh(self.fuse(torch.cat(mems, dim=1))), o
