"""models.advection: advection-aware nowcasting around any registered network.

Motion comes from optical flow (:mod:`radar.motion`), not from the network: ``motion``
[B, 2, H, W] is the displacement per time step in pixels (x then y, pysteps' layout). Shifting a
field by ``n`` steps is semi-Lagrangian: the backward trajectory D_n(x) = D_{n-1}(x) +
V(x - D_{n-1}(x)) is followed from every pixel and the field is sampled bilinearly at x - D_n(x)
(``n < 0`` follows -V, i.e. back in time). Everything is plain tensor ops and ``grid_sample``,
so the same code trains in PyTorch and runs inside the ONNX graph (GridSample, opset >= 16).

Two ways to wrap a :class:`~models.network.Nowcaster` (its cell and pyramid unchanged):

* ``lagrangian`` (after Ritvanen et al. 2023, L-CNN): every frame of the window is moved to the
  frame of reference of the last input (frame at time t shifted by -t steps), the network
  forecasts the evolution there as an increment on the frame it is fed (so an untrained network
  is exactly extrapolation), and forecast step k is shifted by +k steps back to the map.
* ``residual`` (guided): at every step the network also sees the extrapolation of the latest
  observation to the time it must predict, and its output is a correction added to it.
* ``cascade``: the Lagrangian frame, but each forecast step is a correction of S-PROG's
  scale-by-scale AR(2) forecast made there from the last three frames (:mod:`models.cascade`),
  which the network also sees; an untrained network is an S-PROG-like nowcast.

Pixels whose trajectory leaves the grid (rain flowing in from outside) are unknown to both, as
to any extrapolation; :meth:`AdvectionNowcaster.loss_mask` leaves them out of the loss.

``frame_match`` (config; Lagrangian-frame modes, inference only): every lead is given the last
input's value distribution (:func:`match_distribution`) in the last input's frame of reference,
and only then moved to the map, which is the order of S-PROG. Matching on the map instead (the
workers' ``cdf-match``) spreads the last frame's whole wet area over what is left of the grid
after rain has flowed out, and undoes the growth and shrinking of rain areas that a converging
or diverging motion field gives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models import cascade
from models.network import Nowcaster

MODES = ("lagrangian", "residual", "cascade")
#: modes that forecast in the frame of reference of the last input
LAGRANGIAN_FRAME = ("lagrangian", "cascade")


def check_frame_match(advection: str) -> None:
    """``frame_match`` is only defined where leads live in the last input's frame first."""
    if advection not in LAGRANGIAN_FRAME:
        modes = ", ".join(LAGRANGIAN_FRAME)
        raise ValueError(f"frame_match needs a Lagrangian-frame advection mode ({modes})")


def match_distribution(field: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``field`` [B, 1, H, W] with the empirical value distribution of ``reference`` (same
    shape), ranks kept: the k-th smallest pixel takes the k-th smallest reference value, and
    pixels at the field's minimum (no rain) take the reference's minimum, as pysteps'
    ``nonparam_match_empirical_cdf`` and the workers' numpy version do. Sorts export to ONNX
    TopK, so this runs inside the graph."""
    flat = field.flatten(1)  # no sizes written out: the traced graph keeps them dynamic
    target = torch.sort(reference.flatten(1), dim=1).values
    out = torch.zeros_like(flat).scatter(1, torch.argsort(flat, dim=1), target)
    dry = flat <= flat.min(dim=1, keepdim=True).values
    return torch.where(dry, target[:, :1], out).reshape_as(field)


def _pixel_grid(motion: torch.Tensor) -> torch.Tensor:
    """[1, 2, H, W] pixel coordinates (x = column, y = row) shaped like ``motion``."""
    h, w = motion.shape[-2:]
    ys = torch.arange(h, dtype=motion.dtype, device=motion.device)
    xs = torch.arange(w, dtype=motion.dtype, device=motion.device)
    gy = ys.view(1, 1, -1, 1).expand(1, 1, h, w)
    gx = xs.view(1, 1, 1, -1).expand(1, 1, h, w)
    return torch.cat([gx, gy], dim=1)


def sample(field: torch.Tensor, coords: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """``field`` [B, C, H, W] read bilinearly at pixel ``coords`` [B, 2, H, W] (x, y)."""
    h, w = field.shape[-2:]
    scale = torch.stack(
        [
            2.0 / torch.clamp(torch.tensor(w, dtype=field.dtype) - 1, min=1),
            2.0 / torch.clamp(torch.tensor(h, dtype=field.dtype) - 1, min=1),
        ]
    ).to(field.device)
    grid = (coords * scale.view(1, 2, 1, 1) - 1.0).permute(0, 2, 3, 1)
    return F.grid_sample(field, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def trajectories(motion: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """Backward displacements D_1 .. D_steps [B, 2, H, W] for a motion field held constant."""
    base = _pixel_grid(motion)
    out, disp = [], torch.zeros_like(motion)
    for _ in range(steps):
        disp = disp + sample(motion, base - disp, padding="border")
        out.append(disp)
    return out


def shift(field: torch.Tensor, displacement: torch.Tensor | None) -> torch.Tensor:
    """Move ``field`` [B, C, H, W] along trajectories: out(x) = field(x - D(x)); zero inflow."""
    if displacement is None:
        return field
    return sample(field, _pixel_grid(displacement) - displacement)


def inside(displacement: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W]: 1 where the trajectory's start x - D(x) lies on the grid."""
    if displacement is None:
        return torch.ones_like(like[:, :1])
    h, w = displacement.shape[-2:]
    src = _pixel_grid(displacement) - displacement
    ok = (src[:, :1] >= 0) & (src[:, :1] <= w - 1) & (src[:, 1:] >= 0) & (src[:, 1:] <= h - 1)
    return ok.to(like.dtype)


class Shifts:
    """Displacements for shifts of -back .. +ahead steps of one motion field (None for 0)."""

    def __init__(self, motion: torch.Tensor, ahead: int, back: int = 0) -> None:
        self.ahead = trajectories(motion, ahead)
        self.back = trajectories(-motion, back) if back else []

    def __getitem__(self, n: int) -> torch.Tensor | None:
        if n == 0:
            return None
        return self.ahead[n - 1] if n > 0 else self.back[-n - 1]


def _no_fade_before_it(state_dict, prefix, *_args) -> None:
    """Cascade checkpoints from before the learned fading load with none (zeros)."""
    state_dict.setdefault(prefix + "level_fade", torch.zeros(len(cascade.SIGMAS) + 1))


class AdvectionNowcaster(nn.Module):
    """A registered network in the ``lagrangian`` or ``residual`` mode (module docstring).

    Same interface as :class:`Nowcaster` (``config``, ``stride``, ``adapter``, ``forward``,
    ``forecast``) plus the motion field every call needs.
    """

    def __init__(self, net: Nowcaster, mode: str) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown advection mode {mode!r}; known: {', '.join(MODES)}")
        if mode == "cascade" and net.config.t_in < 3:
            raise ValueError("the cascade mode's AR(2) needs t_in >= 3")
        self.net = net
        self.mode = mode
        # start as extrapolation: the network's first output is a zero increment / correction
        nn.init.zeros_(net.head.weight)
        nn.init.zeros_(net.head.bias)
        if mode == "cascade":  # learned per-level fading on top of the AR(2); 0 = none
            self.level_fade = nn.Parameter(torch.zeros(len(cascade.SIGMAS) + 1))
            self._register_load_state_dict_pre_hook(_no_fade_before_it)

    @property
    def config(self):
        return self.net.config

    @property
    def stride(self) -> int:
        return self.net.stride

    @property
    def adapter(self):
        return self.net.adapter

    def _times(self, length: int) -> list[int]:
        """Time in steps of every window position relative to the last input (0)."""
        last = self.config.t_in - 1
        return [i - last for i in range(length)]

    def loss_mask(self, motion: torch.Tensor, length: int) -> torch.Tensor:
        """[B, length-1, 1, H, W]: 1 where predictions of frames 1..length-1 are defined."""
        times = self._times(length)[1:]
        if self.mode == "residual":  # input period: the guide is a one-step extrapolation
            times = [max(t, 1) for t in times]
        shifts = Shifts(motion, max(1, max(times)), max(0, -min(times)))
        return torch.stack([inside(shifts[t], motion) for t in times], dim=1)

    def forward(
        self, seq: torch.Tensor, truth_mask: torch.Tensor | None = None, motion=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass over a window [B, S, 1, H, W] -> predictions of frames 1..S-1 on the
        map (as :meth:`Nowcaster.forward`), scheduled sampling by ``truth_mask``."""
        self.net.check_size(seq)
        steps = seq.shape[1] - 1
        times = self._times(seq.shape[1])
        t_in = self.config.t_in
        lagrangian = self.mode in LAGRANGIAN_FRAME
        # lagrangian: inputs move ahead to the last one, later frames (scheduled-sampling
        # truth) move back; the forecast moves ahead by every lead
        shifts = Shifts(motion, max(times[-1], -times[0]), times[-1] if lagrangian else 0)
        if lagrangian:
            frames = [shift(seq[:, i], shifts[-times[i]]) for i in range(seq.shape[1])]
        else:
            frames = [seq[:, i] for i in range(seq.shape[1])]
        last = seq[:, t_in - 1]
        prior = self._prior(frames[:t_in], shifts, max(times)) if self.mode == "cascade" else None
        preds, state, extra, pred = [], None, seq.new_zeros(()), None
        for t in range(steps):
            if t == 0 or (truth_mask is None and t < t_in):
                x = frames[t]
            elif truth_mask is None:
                x = pred
            else:
                w = truth_mask[:, t].view(-1, 1, 1, 1).to(seq.dtype)
                x = w * frames[t] + (1 - w) * pred
            pred, state, aux = self._step(x, state, times[t + 1], shifts, last, seq[:, t], prior)
            preds.append(pred)
            if self.net.adapter is not None:
                extra = extra + self.net.decoupling_loss(aux)
        out = torch.stack(preds, dim=1)
        if lagrangian:  # back to the map
            out = torch.stack([shift(out[:, k], shifts[times[k + 1]]) for k in range(steps)], dim=1)
        return out, extra / max(steps, 1)

    def _prior(self, feed: list[torch.Tensor], shifts: Shifts, steps: int) -> list[torch.Tensor]:
        """The cascade forecast of leads 1..``steps`` from the last three inputs ``feed`` (already
        in the last one's frame), known where every one of them is on the grid."""
        valid = inside(shifts[2], feed[-1]) * inside(shifts[1], feed[-1])
        return cascade.forecast(
            feed[-3:], steps, valid, fade=self.level_fade, version=self.config.cascade_version
        )

    def _step(self, x, state, time, shifts, last, previous, prior=None):
        """One step emitting the frame at ``time``; ``x`` is the frame fed (model's frame),
        ``previous`` the observed frame before the one emitted (used while ``time`` <= 0),
        ``prior`` the cascade forecast of every lead (cascade mode)."""
        if self.mode == "lagrangian":
            delta, state, aux = self.net.step(x, state)
            return x + delta, state, aux
        if self.mode == "cascade":  # inputs: an increment as lagrangian; leads: on the prior
            guide = x if time <= 0 else prior[time - 1]
            delta, state, aux = self.net.step(torch.cat([x, guide], dim=1), state)
            return guide + delta, state, aux
        if time <= 0:  # input period: one-step extrapolation of the observed previous frame
            guide = shift(previous, shifts[1])
        else:  # forecast: the latest observation extrapolated to this lead
            guide = shift(last, shifts[time])
        delta, state, aux = self.net.step(torch.cat([x, guide], dim=1), state)
        return guide + delta, state, aux

    def forecast(
        self, frames: torch.Tensor, motion: torch.Tensor, steps: int | None = None
    ) -> torch.Tensor:
        """Inference: ``t_in`` frames [B, t_in, 1, H, W] and motion -> ``steps`` frames on the
        map, clipped to the pixel range."""
        self.net.check_size(frames)
        steps = self.config.t_out if steps is None else steps
        t_in = frames.shape[1]
        shifts = Shifts(motion, max(steps, t_in - 1))
        last = frames[:, -1]
        lagrangian = self.mode in LAGRANGIAN_FRAME
        if lagrangian:
            feed = [shift(frames[:, i], shifts[t_in - 1 - i]) for i in range(t_in)]
        else:
            feed = [frames[:, i] for i in range(t_in)]
        prior = self._prior(feed, shifts, steps) if self.mode == "cascade" else None
        state, pred, out = None, None, []
        for t in range(t_in + steps - 1):
            x = feed[t] if t < t_in else pred
            time = t + 1 - (t_in - 1)
            previous = frames[:, t] if t < t_in else None
            pred, state, _ = self._step(x, state, time, shifts, last, previous, prior)
            if time >= 1 and lagrangian:
                emit = match_distribution(pred, last) if self.config.frame_match else pred
                out.append(shift(emit, shifts[time]))
            elif time >= 1:
                out.append(pred)
        return torch.stack(out, dim=1).clamp(0.0, 1.0)
