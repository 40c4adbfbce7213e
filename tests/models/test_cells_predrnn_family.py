"""TrajGRU, PredRNN (ST-LSTM), PredRNN-V2 and PredRNN++ (Causal LSTM + GHU): parameter counts
against REFERENCE.md §2 and properties that follow from the equations of §3."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from models.cells.predrnn import STLSTM, PredRNNV2  # noqa: E402
from models.cells.predrnnpp import GHU, CausalLSTM  # noqa: E402
from models.cells.trajgru import TrajGRU, warp  # noqa: E402
from models.registry import build  # noqa: E402

UNUSED_GHU_COPIES = 0.74e6  # the reference builds a GHU per layer and uses one
REFERENCE_PARAMS = {
    "trajgru": 1.916e6,
    "predrnn": 3.595e6,
    "predrnn-v2": 3.599e6,  # includes the shared 64x64 decoupling adapter
    "predrnn++": 5.609e6 - UNUSED_GHU_COPIES,
}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list(REFERENCE_PARAMS))
def test_parameter_count_at_hidden_64_matches_the_reference(name):
    assert n_params(build(name)) == pytest.approx(REFERENCE_PARAMS[name], rel=0.015)


def test_the_five_unused_ghu_copies_are_the_reference_surplus():
    assert 5 * n_params(GHU(64, 3)) == pytest.approx(UNUSED_GHU_COPIES, rel=0.01)
    model = build("predrnn++")
    assert sum(isinstance(m, GHU) for m in model.modules()) == 1


# --- TrajGRU -------------------------------------------------------------------------------


def test_zero_flow_warp_is_the_identity_and_a_unit_flow_shifts():
    torch.manual_seed(0)
    h = torch.randn(2, 3, 5, 7)
    zero = torch.zeros(2, 2, 5, 7)
    torch.testing.assert_close(warp(h, zero), h, atol=1e-6, rtol=0)
    right = zero.clone()
    right[:, 0] = 1.0  # out(y, x) = h(y, x + 1); outside the frame reads zero
    shifted = warp(h, right)
    torch.testing.assert_close(shifted[..., :-1], h[..., 1:], atol=1e-6, rtol=0)
    assert shifted[..., -1].abs().max() == 0
    down = zero.clone()
    down[:, 1] = 1.0
    torch.testing.assert_close(warp(h, down)[..., :-1, :], h[..., 1:, :], atol=1e-6, rtol=0)


def test_trajgru_with_zero_flows_is_a_1x1_gru_on_the_unwarped_state():
    torch.manual_seed(0)
    cell = TrajGRU(4, 6, links=10)
    with torch.no_grad():
        cell.conv_flow.weight.zero_()
        cell.conv_flow.bias.zero_()
    x, h = torch.randn(2, 4, 8, 5), torch.randn(2, 6, 8, 5)
    with torch.no_grad():
        out = cell(x, {"h": h})
        # Every link sees h itself: the 1x1 conv over L copies is one 1x1 conv whose weight is
        # the sum over the links' weight blocks.
        w = cell.conv_h.weight.unflatten(1, (10, 6)).sum(1)
        zx, rx, nx = cell.conv_x(x).chunk(3, dim=1)
        zh, rh, nh = F.conv2d(h, w, cell.conv_h.bias).chunk(3, dim=1)
        z, r = torch.sigmoid(zx + zh), torch.sigmoid(rx + rh)
        n = F.leaky_relu(nx + r * nh, 0.2)
        expected = (1 - z) * n + z * h
    torch.testing.assert_close(out.h, expected, atol=1e-5, rtol=1e-5)
    assert out.state["h"] is out.h


# --- PredRNN and PredRNN-V2 ------------------------------------------------------------------


def zero_state(cell, b=2, h=6, w=10):
    x = torch.randn(b, cell.in_channels, h, w)
    state = cell.init_state(x)
    return x, state, torch.zeros(b, cell.hidden, h, w)


def test_predrnn_v2_is_st_lstm_with_the_same_weights_plus_the_memory_increments():
    assert issubclass(PredRNNV2, STLSTM) and PredRNNV2.decoupling and not STLSTM.decoupling
    torch.manual_seed(0)
    v1, v2 = STLSTM(5, 7), PredRNNV2(5, 7)
    v2.load_state_dict(v1.state_dict())
    x, state, m = zero_state(v1)
    with torch.no_grad():
        a, b = v1(x, state, m), v2(x, state, m)
    torch.testing.assert_close(a.h, b.h)
    torch.testing.assert_close(a.m, b.m)
    assert a.aux is None
    # From zero memories the new c and m are exactly their increments σi⊙tanh g, σi'⊙tanh g'.
    assert b.aux["delta_c"].shape == b.state["c"].shape == (2, 7, 6, 10)
    assert b.aux["delta_m"].shape == b.m.shape == (2, 7, 6, 10)
    torch.testing.assert_close(b.aux["delta_c"], b.state["c"])
    torch.testing.assert_close(b.aux["delta_m"], b.m)


@pytest.mark.parametrize("name", ["predrnn-v2", "ms-predrnn-v2"])
def test_decoupling_loss_is_positive_and_differentiable(name):
    torch.manual_seed(0)
    model = build(name, hidden=8, t_in=2, t_out=2)
    _, extra = model(torch.rand(2, 4, 1, 16, 16))
    assert extra.ndim == 0 and extra.item() > 0
    # at most one |cos| per channel and layer
    assert extra.item() <= model.config.hidden * model.config.layers + 1e-4
    extra.backward()
    assert model.adapter.weight.grad.abs().sum() > 0
    for cell in model.stack.cells:
        assert cell.conv_x.weight.grad.abs().sum() > 0
    assert build("predrnn", hidden=8).adapter is None


# --- PredRNN++ -------------------------------------------------------------------------------


def test_causal_lstm_forget_path_of_m_reads_a_1x1_conv_of_m():
    """With i' saturated shut and f' open, m' = tanh(W_1x1*m)."""
    torch.manual_seed(0)
    cell = CausalLSTM(3, 4)
    hid = cell.hidden
    with torch.no_grad():
        cell.conv_x.bias[3 * hid : 4 * hid] = -50.0  # i'
        cell.conv_x.bias[4 * hid : 5 * hid] = 50.0  # f'
        x, state, _ = zero_state(cell)
        m = torch.randn_like(state["h"])
        out = cell(x, state, m)
        torch.testing.assert_close(out.m, torch.tanh(cell.conv_mm(m)), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("name", "scale"), [("ms-predrnn++", 2), ("predrnn++", 1)])
def test_the_ghu_runs_once_before_layer_1_at_its_resolution(name, scale):
    torch.manual_seed(0)
    model = build(name, hidden=8).eval()
    seen = {}

    def on_ghu(module, args, out):
        seen.setdefault("ghu", []).append((args[0].shape, args[1].shape, out))

    def on_layer1(module, args, out):
        seen.setdefault("layer1", []).append(args[0])

    model.stack.highway.register_forward_hook(on_ghu)
    model.stack.cells[1].register_forward_hook(on_layer1)
    with torch.no_grad():
        state = None
        for _ in range(2):
            _, state, _ = model.step(torch.rand(1, 1, 16, 24), state)
    size = (1, 8, 16 // scale, 24 // scale)
    assert len(seen["ghu"]) == 2  # one call per time step
    for (x_shape, z_shape, z_new), layer1_input in zip(seen["ghu"], seen["layer1"], strict=True):
        assert x_shape == z_shape == z_new.shape == size
        assert layer1_input is z_new  # layer 1 reads z', not the pooled h of layer 0
    assert state.z.shape == size
