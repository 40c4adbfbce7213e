"""TrajGRU (Shi et al. 2017) with L = 10 learned links (REFERENCE.md §3).

The hidden-to-hidden connections are not a fixed convolution: a small flow network looks at
(x, h) and predicts L two-channel flow fields; h is warped by each of them (bilinear sampling)
and a 1x1 convolution over the L warped copies gives the h-parts of the GRU gates.

Sizes (hidden 64, 3x3 kernels): u = LeakyReLU0.2(W*x + W*h) has ``hidden`` channels (3x3),
flows = W(3x3)*u has 2L channels, the x-parts of z, r, n come from one 3x3 conv and the h-parts
from one 1x1 conv over L·hidden channels. That gives 319,252 parameters per layer, 1.916M for
the 6-layer network with embedding and head, as in REFERENCE.md §2.

The sampling grid is built from the warped tensor at run time (no size fixed at construction),
from ``cumsum`` of ones rather than from Python sizes, so that the ONNX graph keeps H and W
dynamic (GridSample, opset 16+).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.cells.base import Cell, CellOutput, conv

LINKS = 10
SLOPE = 0.2


def pixel_grid(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (x, y), each [B, 1, H, W], and the sizes (W, H) as tensors
    broadcastable to them; everything follows ``like``'s (dynamic) shape."""
    ones = torch.ones_like(like[:, :1])
    xs = ones.cumsum(3)  # 1..W along width
    ys = ones.cumsum(2)  # 1..H along height
    return xs - 1.0, ys - 1.0, xs[:, :, :, -1:], ys[:, :, -1:, :]


def warp(h: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear backward warp: out(p) = h(p + flow(p)), flow [B, 2, H, W] in pixels (dx, dy);
    samples outside the frame read zero. Zero flow is the identity."""
    x, y, width, height = pixel_grid(h)
    # align_corners=False: pixel i of n sits at normalised (2i + 1)/n - 1.
    gx = (2.0 * (x + flow[:, 0:1]) + 1.0) / width - 1.0
    gy = (2.0 * (y + flow[:, 1:2]) + 1.0) / height - 1.0
    grid = torch.cat([gx, gy], dim=1).permute(0, 2, 3, 1)
    return F.grid_sample(h, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class TrajGRU(Cell):
    state_names = ("h",)

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, links: int = LINKS, **kw):
        super().__init__(in_channels, hidden, kernel, **kw)
        self.links = links
        self.conv_xu = conv(in_channels, hidden, kernel)  # flow network, x part
        self.conv_hu = conv(hidden, hidden, kernel)  # flow network, h part
        self.conv_flow = conv(hidden, 2 * links, 3)  # u -> L flows (dx, dy)
        self.conv_x = conv(in_channels, 3 * hidden, kernel)  # zx, rx, nx
        self.conv_h = conv(links * hidden, 3 * hidden, 1)  # zh, rh, nh over the warped copies

    def flows(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """[B, 2L, H, W]: link k's flow is channels (2k, 2k+1)."""
        u = F.leaky_relu(self.conv_xu(x) + self.conv_hu(h), SLOPE)
        return self.conv_flow(u)

    def warp_links(self, h: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
        """h warped by each of the L flows, concatenated link by link: [B, L*hidden, H, W].
        All links go through one grid_sample call with the links folded into the batch."""
        links = self.links
        hs = h.unsqueeze(1).expand(-1, links, -1, -1, -1).flatten(0, 1)
        fs = flows.unflatten(1, (links, 2)).flatten(0, 1)
        return warp(hs, fs).unflatten(0, (-1, links)).flatten(1, 2)

    def forward(self, x, state, m=None, x_prev=None) -> CellOutput:
        h = state["h"]
        warped = self.warp_links(h, self.flows(x, h))
        zx, rx, nx = torch.chunk(self.conv_x(x), 3, dim=1)
        zh, rh, nh = torch.chunk(self.conv_h(warped), 3, dim=1)
        z = torch.sigmoid(zx + zh)
        r = torch.sigmoid(rx + rh)
        n = F.leaky_relu(nx + r * nh, SLOPE)
        h = (1 - z) * n + z * h
        return CellOutput(h, {"h": h})
