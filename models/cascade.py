"""models.cascade: S-PROG's scale-by-scale AR(2) forecast in the Lagrangian frame, as tensor ops.

The idea of S-PROG (Seed 2003; pysteps' ``sprog``): split the field (here the model's pixels, a
dB scale) into spatial scales; in the Lagrangian frame each scale evolves as an AR(2) process
whose coefficients come from that scale's own lag-1 and lag-2 correlations over the last three
frames, so the small scales, which decorrelate fast, fade first and the large ones persist.
pysteps splits with Gaussian band-pass filters applied by FFT; here the bands are differences of
Gaussian blurs done as separable convolutions, so the whole forecast is convolutions and sums
that run in PyTorch and inside the ONNX graph (its exporter has no FFT), and gradients flow
through it.

Levels: lows = [field, G(s_1) field, ..., G(s_n) field] with Gaussian blurs of widths
``SIGMAS``; level i = lows[i] - lows[i + 1], the last level lows[-1]. They sum to the field
exactly. The widths were chosen on the validation day (2 km grid, cdf-matched, CSI at 1 mm/h
over 5-60 min, untrained network): blurs of 1, 2.8 and 7.8 px scored 0.480, of 1-61 px (five,
x2.8) 0.476, of 1-4 px (x2) 0.479 and 1-16 px 0.474, a binomial pyramid of 3-5 levels
0.460-0.474; pysteps' own S-PROG on the same 2 km grid 0.489, at 1 km 0.498.

Dry pixels: the model's pixel scale puts "no rain" 14 dB below the lightest rain it counts
(0.1 mm/h), so rain edges would dominate the small scales. As pysteps does in dB, pixels under
0.1 mm/h are set to the pixel of 5 dB less (``ZERO_DB``) before the split, and the forecast is
dry again where it falls under 0.1 mm/h.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from radar.motion import RAIN_THRESHOLD, ZERO_DB
from radar.transforms import rain_to_pixel

#: widths (pixels) of the Gaussian blurs between levels (module docstring)
SIGMAS = (1.0, 2.8, 7.8)
#: pixels of the lightest rain counted and of "dry" in the split (module docstring)
WET_PIXEL = float(rain_to_pixel(np.float32(RAIN_THRESHOLD)))
DRY_PIXEL = float(rain_to_pixel(np.float32(10 ** (ZERO_DB / 10))))
#: Versions of the forecast (``ModelConfig.cascade_version``) and what each adds to a level's
#: variance before its square root. Version 1, the cascade of the models shipped before this
#: constant existed, added 1e-6: in pixel units the levels' variances are only 1e-4 to 1e-3, so
#: that biased their correlations down by 0.1-1 %. Near a correlation of 1 the Yule-Walker
#: AR(2) is very sensitive: on the validation day the largest scale got phi = (0.77, 0.23),
#: almost persistence, where pysteps' S-PROG on the same levels gets (1.94, -0.94), which
#: carries the trend of the last two frames on. Version 2 only keeps the square root finite.
VARIANCE_EPS = {1: 1e-6, 2: 1e-12}
#: |lag-1 correlation| is kept below this so the Yule-Walker system stays regular
_MAX_CORR = 0.999


def blur(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """``field`` [N, 1, H, W] blurred by a Gaussian of ``sigma`` pixels (edges held)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=field.dtype, device=field.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    rows = F.conv2d(
        F.pad(field, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1)
    )
    return F.conv2d(F.pad(rows, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))


def decompose(field: torch.Tensor, sigmas: tuple[float, ...] = SIGMAS) -> list[torch.Tensor]:
    """``field`` [N, 1, H, W] -> ``len(sigmas) + 1`` levels [N, 1, H, W], fine to coarse, summing
    to it."""
    lows = [field] + [blur(field, s) for s in sigmas]
    return [lows[i] - lows[i + 1] for i in range(len(sigmas))] + [lows[-1]]


def _moments(x: torch.Tensor, weight: torch.Tensor, total: torch.Tensor, eps: float):
    """Weighted mean and standard deviation over space: [N, 1, 1, 1] each."""
    mean = (x * weight).sum(dim=(2, 3), keepdim=True) / total
    var = (((x - mean) ** 2) * weight).sum(dim=(2, 3), keepdim=True) / total
    return mean, torch.sqrt(var + eps)


def ar2_coefficients(gamma1: torch.Tensor, gamma2: torch.Tensor):
    """Yule-Walker AR(2) coefficients from lag-1 and lag-2 correlations, lag 2 first moved into
    the stationary region (gamma2 > 2 gamma1^2 - 1), as pysteps does before S-PROG's AR(2)."""
    gamma1 = gamma1.clamp(-_MAX_CORR, _MAX_CORR)
    gamma2 = torch.maximum(gamma2, 2 * gamma1**2 - 1 + 1e-3).clamp(max=_MAX_CORR)
    denom = 1 - gamma1**2
    phi1 = gamma1 * (1 - gamma2) / denom
    phi2 = (gamma2 - gamma1**2) / denom
    return phi1, phi2


def forecast(
    frames: list[torch.Tensor],
    steps: int,
    valid: torch.Tensor | None = None,
    sigmas: tuple[float, ...] = SIGMAS,
    fade: torch.Tensor | None = None,
    version: int = 2,
) -> list[torch.Tensor]:
    """S-PROG-style forecast of ``steps`` frames from the last three ``frames`` (oldest first,
    each [N, 1, H, W], already in the Lagrangian frame of the last one).

    ``valid`` [N, 1, H, W] marks the pixels every frame knows (rain moved in from outside the
    grid is unknown); correlations and level statistics use only those. Each level is
    normalised by its own mean and spread, extrapolated by its AR(2), and recomposed with the
    last frame's mean and spread. ``fade`` (one value per level, learnable) scales level i at
    lead k by exp(fade[i] k) on top of its AR(2): how fast each scale should fade is then
    learned from data instead of taken from three frames alone. ``version`` picks the
    normalisation (:data:`VARIANCE_EPS`). Returns the frames at leads 1..steps in the same
    frame.
    """
    if len(frames) < 3:
        raise ValueError("the cascade's AR(2) needs the last three frames")
    if version not in VARIANCE_EPS:
        known = ", ".join(map(str, VARIANCE_EPS))
        raise ValueError(f"unknown cascade version {version!r}; known: {known}")
    weight = torch.ones_like(frames[-1]) if valid is None else valid
    total = weight.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    dry = torch.full_like(frames[-1], DRY_PIXEL)
    cascades = [decompose(torch.where(f >= WET_PIXEL, f, dry), sigmas) for f in frames[-3:]]
    # The AR(2) is linear: lead k of a level is a_k z(0) + b_k z(-1), with a_k, b_k from the
    # same recursion on scalars. So every lead of every level is one matrix product of those
    # coefficients with the last two normalised frames, instead of a pass over the grid per
    # lead and level (a quarter of a second saved on DE1200 at 24 leads).
    last, before, coefficients, offset = [], [], [], 0.0
    leads = torch.arange(1, steps + 1, dtype=frames[-1].dtype, device=frames[-1].device)
    for level in range(len(sigmas) + 1):
        z, mean, std = [], None, None
        for cascade in cascades:
            mean, std = _moments(cascade[level], weight, total, VARIANCE_EPS[version])
            z.append((cascade[level] - mean) / std)
        gamma1 = (z[2] * z[1] * weight).sum(dim=(2, 3), keepdim=True) / total
        gamma2 = (z[2] * z[0] * weight).sum(dim=(2, 3), keepdim=True) / total
        phi1, phi2 = ar2_coefficients(gamma1.flatten(1), gamma2.flatten(1))  # [N, 1]
        one, zero = torch.ones_like(phi1), torch.zeros_like(phi1)
        previous, current = (zero, one), (one, zero)  # z(-1) and z(0) as (a, b)
        per_lead = []
        for _ in range(steps):
            previous, current = (
                current,
                tuple(phi1 * c + phi2 * p for c, p in zip(current, previous, strict=True)),
            )
            per_lead.append(torch.cat(current, dim=1))  # [N, 2]: (a_k, b_k)
        scale = std.flatten(1).unsqueeze(1)  # [N, 1, 1]
        if fade is not None:
            scale = scale * torch.exp(fade[level] * leads).view(1, -1, 1)
        coefficients.append(torch.stack(per_lead, dim=1) * scale)
        last.append(z[2])
        before.append(z[1])
        offset = offset + mean  # the last frame's level means, summed
    # [N, steps, 2 L] @ [N, 2 L, H W]: columns ordered (a, b) per level as the stack below
    weights = torch.cat(coefficients, dim=2)
    stack = torch.cat([t for pair in zip(last, before, strict=True) for t in pair], dim=1)
    n, _, h, w = stack.shape
    out = torch.matmul(weights, stack.flatten(2)).reshape(n, steps, h, w) + offset
    out = [out[:, k : k + 1] for k in range(steps)]
    return [torch.where(f >= WET_PIXEL, f, torch.zeros_like(f)) for f in out]
