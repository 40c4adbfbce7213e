"""models.cascade: S-PROG's scale-by-scale AR(2) forecast in the Lagrangian frame, as tensor ops.

The idea of S-PROG (Seed 2003; pysteps' ``sprog``): split the field (here the model's pixels, a
dB scale) into spatial scales; in the Lagrangian frame each scale evolves as an AR(2) process
whose coefficients come from that scale's own lag-1 and lag-2 correlations over the last three
frames, so the small scales, which decorrelate fast, fade first and the large ones persist.
pysteps splits with FFT Gaussian band-pass filters; here the split is a Gaussian (binomial)
pyramid, so the whole forecast is a few convolutions, resizes and sums that run in PyTorch and
inside the ONNX graph (no FFT op), and gradients flow through it.

Dry pixels: the model's pixel scale puts "no rain" 14 dB below the lightest rain it counts
(0.1 mm/h), so rain edges would dominate the small scales. As pysteps does in dB, pixels under
0.1 mm/h are set to the pixel of 5 dB less (``ZERO_DB``) before the split, and the forecast is
dry again where it falls under 0.1 mm/h.

Levels: g_0 = field, g_{l+1} = g_l blurred with a 5x5 binomial kernel and taken every second
pixel; u_l = g_l resized back to the grid; level l = u_l - u_{l+1}, the last level u_{L-1}.
The levels sum to the field exactly. Level l holds scales of about 2^l .. 2^(l+1) pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from radar.motion import RAIN_THRESHOLD, ZERO_DB
from radar.transforms import rain_to_pixel

LEVELS = 4  # on the validation day (1 km), 4 levels beat 6 and 8 (CSI 1 mm/h 0.481, 0.475, 0.474)
#: pixels of the lightest rain counted and of "dry" in the split (module docstring)
WET_PIXEL = float(rain_to_pixel(np.float32(RAIN_THRESHOLD)))
DRY_PIXEL = float(rain_to_pixel(np.float32(10 ** (ZERO_DB / 10))))
_EPS = 1e-6
#: |lag-1 correlation| is kept below this so the Yule-Walker system stays regular
_MAX_CORR = 0.999


def _binomial_kernel(like: torch.Tensor) -> torch.Tensor:
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=like.dtype, device=like.device) / 16.0
    return (taps.view(-1, 1) * taps.view(1, -1)).view(1, 1, 5, 5)


def decompose(field: torch.Tensor, levels: int = LEVELS) -> list[torch.Tensor]:
    """``field`` [N, 1, H, W] -> ``levels`` tensors [N, 1, H, W], fine to coarse, summing to it."""
    kernel = _binomial_kernel(field)
    size = field.shape[-2:]
    pyramid = [field]
    for _ in range(levels - 1):
        padded = F.pad(pyramid[-1], (2, 2, 2, 2), mode="replicate")
        pyramid.append(F.conv2d(padded, kernel, stride=2))
    resized = [field] + [
        F.interpolate(g, size=size, mode="bilinear", align_corners=False) for g in pyramid[1:]
    ]
    return [resized[i] - resized[i + 1] for i in range(levels - 1)] + [resized[-1]]


def _moments(x: torch.Tensor, weight: torch.Tensor, total: torch.Tensor):
    """Weighted mean and standard deviation over space: [N, 1, 1, 1] each."""
    mean = (x * weight).sum(dim=(2, 3), keepdim=True) / total
    var = (((x - mean) ** 2) * weight).sum(dim=(2, 3), keepdim=True) / total
    return mean, torch.sqrt(var + _EPS)


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
    frames: list[torch.Tensor], steps: int, valid: torch.Tensor | None = None, levels: int = LEVELS
) -> list[torch.Tensor]:
    """S-PROG-style forecast of ``steps`` frames from the last three ``frames`` (oldest first,
    each [N, 1, H, W], already in the Lagrangian frame of the last one).

    ``valid`` [N, 1, H, W] marks the pixels every frame knows (rain moved in from outside the
    grid is unknown); correlations and level statistics use only those. Each level is
    normalised by its own mean and spread, extrapolated by its AR(2), and recomposed with the
    last frame's mean and spread. Returns the frames at leads 1..steps in the same frame.
    """
    if len(frames) < 3:
        raise ValueError("the cascade's AR(2) needs the last three frames")
    weight = torch.ones_like(frames[-1]) if valid is None else valid
    total = weight.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    dry = torch.full_like(frames[-1], DRY_PIXEL)
    cascades = [decompose(torch.where(f >= WET_PIXEL, f, dry), levels) for f in frames[-3:]]
    out = [frames[-1].new_zeros(frames[-1].shape) for _ in range(steps)]
    for level in range(levels):
        z, last_mean, last_std = [], None, None
        for cascade in cascades:
            mean, std = _moments(cascade[level], weight, total)
            z.append((cascade[level] - mean) / std)
            last_mean, last_std = mean, std
        gamma1 = (z[2] * z[1] * weight).sum(dim=(2, 3), keepdim=True) / total
        gamma2 = (z[2] * z[0] * weight).sum(dim=(2, 3), keepdim=True) / total
        phi1, phi2 = ar2_coefficients(gamma1, gamma2)
        previous, current = z[1], z[2]
        for k in range(steps):
            previous, current = current, phi1 * current + phi2 * previous
            out[k] = out[k] + current * last_std + last_mean
    return [torch.where(f >= WET_PIXEL, f, torch.zeros_like(f)) for f in out]
