"""MIM, MotionRNN and PrecipLSTM: parameter counts against REFERENCE.md §2 and properties that
follow from their equations (§3). The zoo tests (parity, learning, wiring) cover the rest."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from models.cells.mim import MIM  # noqa: E402
from models.cells.motionrnn import MotionGRU, warp  # noqa: E402
from models.cells.preciplstm import LocalAttention  # noqa: E402
from models.registry import build  # noqa: E402

# REFERENCE.md §2, parameters in millions (64 channels, 6 layers, rounded to 1,000)
REFERENCE_M = {"mim": 7.361, "motionrnn": 7.561, "preciplstm": 7.041}
UNIT = 64 * 64 * 9 + 64  # one 3x3 convolution 64 -> 64 channels with bias


def _reference_only() -> dict[str, int]:
    """Weights the reference code builds but its forward pass never uses, so they are not built
    here (module docstrings): layer 0's MIM-N (8 units) and MIM-S (9 units), the forget gate of c
    in layers 1-5 (x and h convolutions), MotionRNN's MotionGRU in the last layer. PrecipLSTM's
    q/k/v convolutions have biases here and none in the reference (negative: we have more)."""
    mim = 17 * UNIT + 5 * 2 * UNIT
    motion_gru = sum(p.numel() for p in MotionGRU(64).parameters())
    return {"mim": mim, "motionrnn": mim + motion_gru, "preciplstm": -6 * 3 * 64}


@pytest.mark.parametrize("name", list(REFERENCE_M))
def test_parameter_count_at_64_channels_matches_the_reference_table(name):
    ours = sum(p.numel() for p in build(name).parameters())
    # Exact up to the table's rounding (±500) once the reference's unused weights are counted.
    assert abs(ours + _reference_only()[name] - REFERENCE_M[name] * 1e6) <= 500
    if name == "preciplstm":  # nothing unused: the count itself is within 0.02 %
        assert abs(ours / (REFERENCE_M[name] * 1e6) - 1) < 2e-4


def test_mim_layer_0_is_an_st_lstm_and_the_layers_above_are_mim_blocks():
    model = build("mim", hidden=8)
    x = torch.rand(2, 8, 6, 10)
    for i, cell in enumerate(model.stack.cells):
        has_blocks = hasattr(cell, "mim_n") and hasattr(cell, "mim_s")
        assert has_blocks == (i >= 1)
        names = ("h", "c", "n", "s") if i >= 1 else ("h", "c")
        state = cell.init_state(x)
        assert tuple(state) == names
        assert all(v.shape == x.shape for v in state.values())


def test_only_mim_blocks_see_the_previous_input():
    """Layer 0 (ST-LSTM) ignores x_{t-1}; MIM-N in layers >= 1 is driven by x - x_{t-1}."""
    torch.manual_seed(0)
    x, m = torch.rand(1, 8, 6, 6), torch.rand(1, 8, 6, 6)
    for layer, responds in ((0, False), (1, True)):
        cell = MIM(8, 8, layer=layer).eval()
        state = {k: torch.rand_like(v) for k, v in cell.init_state(x).items()}
        with torch.no_grad():
            a = cell(x, state, m, torch.zeros_like(x))
            b = cell(x, state, m, torch.rand_like(x))
        assert (not torch.allclose(a.h, b.h)) == responds
        torch.testing.assert_close(a.m, b.m)  # the m-branch never sees x_{t-1}


def test_warp_with_zero_flow_is_the_identity_and_integer_flow_shifts():
    x = torch.rand(2, 3, 5, 7)
    torch.testing.assert_close(warp(x, torch.zeros(2, 2, 5, 7)), x)
    flow = torch.zeros(2, 2, 5, 7)
    flow[:, 0] = 1.0  # sample one pixel to the right
    out = warp(x, flow)
    torch.testing.assert_close(out[..., :-1], x[..., 1:])
    assert out[..., -1].abs().max() == 0  # zeros outside


@pytest.mark.parametrize("size", [(31, 31), (8, 5), (1, 3)])
def test_motion_gru_keeps_any_size_and_runs_at_half_resolution(size):
    gru = MotionGRU(8)
    h = torch.rand(2, 8, *size)
    f = gru.init_motion(h)
    assert f.shape == (2, 18, math.ceil(size[0] / 2), math.ceil(size[1] / 2))
    out, f2, d2 = gru(h, f, f)
    assert out.shape == h.shape
    assert f2.shape == d2.shape == f.shape


def test_ms_motionrnn_runs_where_the_coarsest_level_is_odd():
    """124x124 at patch 1: levels 124, 62, 31 (the reference crashes there)."""
    torch.manual_seed(0)
    model = build("ms-motionrnn", hidden=4, patch=1).eval()
    frames = torch.rand(1, 2, 1, 124, 124)
    with torch.no_grad():
        _, state, _ = model.step(frames[:, 0])
        out, state, _ = model.step(frames[:, 1], state)
    assert [s["h"].shape[-1] for s in state.layers] == [124, 62, 31, 31, 62, 124]
    assert state.layers[2]["f"].shape == (1, 18, 16, 16)
    assert "f" not in state.layers[5]  # no MotionGRU (nor highway) in the last layer
    assert out.shape == (1, 1, 124, 124)
    assert torch.isfinite(out).all()


def _naive_attention(att: LocalAttention, x: torch.Tensor, rows: slice, cols: slice):
    """Plain softmax(q kᵀ/sqrt(C)) v over one region, for comparison."""
    q, k, v = (t[0, :, rows, cols].flatten(1).T for t in torch.chunk(att.qkv(x), 3, dim=1))
    w = torch.softmax(q @ k.T / math.sqrt(q.shape[1]), dim=-1)
    return (w @ v).T


def test_local_attention_mixes_only_positions_within_a_window():
    torch.manual_seed(0)
    att = LocalAttention(4, window=4).eval()
    x = torch.rand(1, 4, 16, 16)
    y = x.clone()
    y[..., 15, 15] += 5.0  # a far pixel, in the bottom-right window
    with torch.no_grad():
        ax, ay = att(x), att(y)
    torch.testing.assert_close(ax[..., :12, :], ay[..., :12, :])
    torch.testing.assert_close(ax[..., :, :12], ay[..., :, :12])
    assert not torch.allclose(ax[..., 12:, 12:], ay[..., 12:, 12:])


def test_local_attention_ignores_the_padding_of_partial_windows():
    torch.manual_seed(0)
    att = LocalAttention(4, window=4).eval()
    x = torch.rand(1, 4, 10, 7)  # padded to 12x8: partial tiles at the bottom and right
    with torch.no_grad():
        out = att(x)
        assert out.shape == x.shape
        for rows, cols in ((slice(8, 10), slice(4, 7)), (slice(0, 4), slice(0, 4))):
            ref = _naive_attention(att, x, rows, cols)
            torch.testing.assert_close(out[0, :, rows, cols].flatten(1), ref)
        small = torch.rand(1, 4, 3, 2)  # smaller than one window: global attention
        ref = _naive_attention(att, small, slice(None), slice(None))
        torch.testing.assert_close(att(small)[0].flatten(1), ref)
