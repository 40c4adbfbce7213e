"""The sequence wrapper shared by every variant: patching, embedding, stack, head, rollout.

Frames are pixels (REFERENCE.md §5) shaped [batch, time, 1, H, W]. Space-to-depth patching
(``patch`` p: each p x p block becomes p² channels) lets full radar grids fit in memory; p = 1
is the papers' setting. A 1x1 conv embeds to ``hidden`` channels, the stack steps through time,
a 1x1 conv (no activation) and depth-to-space give the next frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from models.cells import CELLS
from models.stack import RecurrentStack


@dataclass
class ModelConfig:
    """Everything needed to rebuild a network (saved in checkpoints and ONNX metadata)."""

    name: str
    arch: str  # a key of models.cells.CELLS
    multiscale: bool
    hidden: int = 64
    layers: int = 6
    kernel: int = 3
    patch: int = 1
    t_in: int = 5
    t_out: int = 5
    cadence_minutes: float = 5.0
    resolution_m: float = 1000.0
    advection: str = "none"  # none or a mode of models.advection.MODES
    motion_method: str = "lk"  # radar.motion method the advection modes were trained with
    motion_frames: int = 3  # the last frames it looks at
    motion_coarsen: int = 2  # estimated on blocks of this many model pixels
    motion_interp_step: int = 1  # tracked vectors interpolated on every n-th pixel (radar.motion)
    # the cascade mode's forecast (models.cascade.VARIANCE_EPS); configs from before the field
    # are version 1
    cascade_version: int = 2
    # Lagrangian-frame modes: each lead gets the last input's value distribution inside the
    # graph, in that frame's frame of reference, before it is moved to the map (S-PROG's order;
    # models.advection.match_distribution)
    frame_match: bool = False

    @property
    def in_channels(self) -> int:
        """Frames fed per step: the guided modes add their guide (extrapolation or cascade)."""
        return 2 if self.advection in ("residual", "cascade") else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        data = {"cascade_version": 1, **data}  # written before the field existed
        return cls(**{k: v for k, v in data.items() if k in known})


class Nowcaster(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.arch not in CELLS:
            raise ValueError(f"unknown cell {config.arch!r}; known: {', '.join(CELLS)}")
        self.config = config
        channels = config.patch**2
        self.embed = nn.Conv2d(config.in_channels * channels, config.hidden, 1)
        self.stack = RecurrentStack(
            CELLS[config.arch], config.hidden, config.layers, config.kernel, config.multiscale
        )
        self.head = nn.Conv2d(config.hidden, channels, 1)
        # PredRNN-V2's decoupling loss: one 1x1 adapter shared by every layer's Δc and Δm.
        self.adapter = (
            nn.Conv2d(config.hidden, config.hidden, 1, bias=False)
            if CELLS[config.arch].decoupling
            else None
        )

    @property
    def stride(self) -> int:
        """H and W of the frames must be multiples of this."""
        return self.config.patch * self.stack.stride

    def check_size(self, frames: torch.Tensor) -> None:
        h, w = frames.shape[-2:]
        if not torch.jit.is_tracing() and (h % self.stride or w % self.stride):
            raise ValueError(
                f"frames {h}x{w} are not multiples of the model's stride {self.stride}"
            )

    def step(self, frame: torch.Tensor, state=None):
        """One time step: a frame [B, in_channels, H, W] -> the next frame [B, 1, H, W], new
        state, per-layer aux."""
        x = self.embed(F.pixel_unshuffle(frame, self.config.patch))
        if state is None:
            state = self.stack.init_state(x)
        h, state, aux = self.stack(x, state)
        return F.pixel_shuffle(self.head(h), self.config.patch), state, aux

    def forward(
        self, seq: torch.Tensor, truth_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass over a whole window [B, S, 1, H, W] -> predictions of frames 1..S-1.

        ``truth_mask`` [B, S-1] (1 = feed the observed frame, 0 = feed the model's own previous
        prediction) carries scheduled sampling; ``None`` feeds the truth for the first ``t_in``
        steps and predictions afterwards, as at inference. Returns the predictions and the
        decoupling loss (zero unless the cell asks for it).
        """
        self.check_size(seq)
        steps = seq.shape[1] - 1
        preds, state, extra = [], None, seq.new_zeros(())
        pred = None
        for t in range(steps):
            if t == 0:
                x = seq[:, 0]
            elif truth_mask is None:
                x = seq[:, t] if t < self.config.t_in else pred
            else:
                w = truth_mask[:, t].view(-1, 1, 1, 1).to(seq.dtype)
                x = w * seq[:, t] + (1 - w) * pred
            pred, state, aux = self.step(x, state)
            preds.append(pred)
            if self.adapter is not None:
                extra = extra + self.decoupling_loss(aux)
        return torch.stack(preds, dim=1), extra / max(steps, 1)

    def decoupling_loss(self, aux: list) -> torch.Tensor:
        """Σ over layers and channels of |cos(adapter Δc, adapter Δm)| over space, batch mean."""
        total = 0.0
        for a in aux:
            if not a:
                continue
            dc = self.adapter(a["delta_c"]).flatten(2)
            dm = self.adapter(a["delta_m"]).flatten(2)
            total = total + F.cosine_similarity(dc, dm, dim=2).abs().sum(1).mean()
        return total

    def forecast(self, frames: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Inference: ``t_in`` frames [B, t_in, 1, H, W] -> ``steps`` (default t_out) frames,
        clipped to the pixel range."""
        self.check_size(frames)
        steps = self.config.t_out if steps is None else steps
        state, pred, out = None, None, []
        for t in range(frames.shape[1] + steps - 1):
            x = frames[:, t] if t < frames.shape[1] else pred
            pred, state, _ = self.step(x, state)
            if t >= frames.shape[1] - 1:
                out.append(pred)
        return torch.stack(out, dim=1).clamp(0.0, 1.0)
