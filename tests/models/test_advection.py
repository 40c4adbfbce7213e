"""models.advection: semi-Lagrangian shifts, the lagrangian, residual and cascade wrappers around
every registered network, and their ONNX export with the second input ``motion``."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import torch.nn.functional as F  # noqa: E402

from models import cascade  # noqa: E402
from models.advection import (  # noqa: E402
    MODES,
    AdvectionNowcaster,
    Shifts,
    inside,
    match_distribution,
    shift,
    trajectories,
)
from models.registry import VARIANTS, build  # noqa: E402

U, V = 1.5, -1.0  # pixels per step: right and up (rows grow downward)
EPS = float(np.finfo(np.float32).eps)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def blob(h: int, w: int, x0: float, y0: float, sigma: float = 3.0) -> torch.Tensor:
    """[1, 1, h, w] Gaussian centred at column x0, row y0."""
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    return torch.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))[None, None]


def centroid(field: torch.Tensor) -> tuple[float, float]:
    """(x, y) centre of mass of a [1, 1, h, w] field."""
    f = field[0, 0].double()
    yy, xx = torch.meshgrid(
        torch.arange(f.shape[0], dtype=f.dtype),
        torch.arange(f.shape[1], dtype=f.dtype),
        indexing="ij",
    )
    return float((f * xx).sum() / f.sum()), float((f * yy).sum() / f.sum())


def constant(h: int, w: int, u: float = U, v: float = V, batch: int = 1) -> torch.Tensor:
    return torch.tensor([u, v]).view(1, 2, 1, 1).expand(batch, 2, h, w).contiguous()


def smooth_motion(batch: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """A smooth random motion field of up to 1.5 pixels a step (as optical flow gives)."""
    coarse = 3 * (torch.rand(batch, 2, 3, 3, generator=gen) - 0.5)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)


def randomise_head(model: AdvectionNowcaster, seed: int = 0) -> None:
    """Give the zero-initialised head weights, so the inner network contributes."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.net.head.weight.copy_(0.2 * torch.randn(model.net.head.weight.shape, generator=gen))
        model.net.head.bias.copy_(0.02 * torch.randn(model.net.head.bias.shape, generator=gen))


# ---- the advection step ---------------------------------------------------------------------


def test_a_blob_moving_at_constant_speed_lands_at_every_lead():
    h, w, x0, y0 = 48, 64, 12.0, 36.0
    field = blob(h, w, x0, y0)
    displacements = trajectories(constant(h, w), 12)
    assert len(displacements) == 12
    for k, d in enumerate(displacements, start=1):
        # a constant field: the backward trajectory is k steps of (U, V) everywhere
        torch.testing.assert_close(d, constant(h, w, k * U, k * V), rtol=0, atol=1e-5)
        out = shift(field, d)
        cx, cy = centroid(out)
        assert abs(cx - (x0 + k * U)) < 0.5 and abs(cy - (y0 + k * V)) < 0.5, (k, cx, cy)
        peak = np.unravel_index(int(out.argmax()), out.shape[-2:])
        assert abs(peak[1] - (x0 + k * U)) <= 0.5 and abs(peak[0] - (y0 + k * V)) <= 0.5
        # and it is the same blob, not just its centre: bilinear blur only
        expected = blob(h, w, x0 + k * U, y0 + k * V)
        assert float((out - expected).abs().max()) < 0.05


def test_trajectories_follow_a_motion_field_that_varies_in_space():
    # u = a + b x, v = c + d y: D_n = D_{n-1} + V(x - D_{n-1}) has the closed form
    # D_n = V(x) (1 - (1 - b)^n) / b (and likewise in y), and bilinear sampling of a linear
    # field is exact, so the semi-Lagrangian recurrence can be checked to float precision
    h, w, a, b, c, d = 40, 48, 0.5, 0.04, -0.3, -0.03
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    motion = torch.stack([a + b * xs, c + d * ys])[None]
    for n, disp in enumerate(trajectories(motion, 6), start=1):
        dx = (a + b * xs) * (1 - (1 - b) ** n) / b
        dy = (c + d * ys) * (1 - (1 - d) ** n) / d
        ok = (xs - dx >= 0) & (ys - dy <= h - 1)  # the departure points stay on the grid
        assert ok.float().mean() > 0.7
        torch.testing.assert_close(disp[0, 0][ok], dx[ok], rtol=0, atol=1e-4)
        torch.testing.assert_close(disp[0, 1][ok], dy[ok], rtol=0, atol=1e-4)


def test_negative_shifts_move_back_and_undo_forward_shifts():
    h, w, x0, y0 = 48, 64, 44.0, 12.0
    field = blob(h, w, x0, y0)
    shifts = Shifts(constant(h, w), ahead=3, back=12)
    assert shifts[0] is None and shift(field, shifts[0]) is field
    for k in range(1, 13):
        cx, cy = centroid(shift(field, shifts[-k]))
        assert abs(cx - (x0 - k * U)) < 0.5 and abs(cy - (y0 - k * V)) < 0.5, (k, cx, cy)
    forward = trajectories(constant(h, w), 3)
    middle = blob(h, w, 30.0, 24.0)
    for k in range(1, 4):
        torch.testing.assert_close(shifts[k], forward[k - 1])
        there_and_back = shift(shift(middle, shifts[k]), shifts[-k])
        assert float((there_and_back - middle).abs().max()) < 0.05  # bilinear blur twice


def test_inside_marks_the_inflow_edge():
    h, w = 20, 24
    displacements = trajectories(constant(h, w), 4)
    ys, xs = np.mgrid[0:h, 0:w]
    ones = torch.ones(1, 1, h, w)
    for k, d in enumerate(displacements, start=1):
        mask = inside(d, ones)[0, 0].numpy()
        sx, sy = xs - k * U, ys - k * V  # where the trajectory starts
        expected = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
        np.testing.assert_array_equal(mask, expected.astype(np.float32))
        # moving right and up: the rain flows in over the left and the bottom edge
        assert not mask[:, : int(np.ceil(k * U))].any() and not mask[h - k :].any()
        assert mask[: h - k, int(np.ceil(k * U)) :].all()
        # and nothing is invented there: zero inflow once the start is a pixel off the grid
        moved = shift(ones, d)[0, 0].numpy()
        np.testing.assert_allclose(moved[expected], 1.0, atol=1e-5)
        far = (sx < -1) | (sy > h)
        assert far.any() and (moved[far] == 0).all()
    torch.testing.assert_close(inside(None, torch.zeros(2, 3, h, w)), torch.ones(2, 1, h, w))


@pytest.mark.parametrize("h, w", [(16, 16), (37, 29), (100, 120)])
def test_zero_motion_leaves_a_field_unchanged(h, w):
    gen = torch.Generator().manual_seed(h)
    field = torch.rand(2, 3, h, w, generator=gen)
    for d in trajectories(torch.zeros(2, 2, h, w), 3):
        assert torch.equal(d, torch.zeros_like(d))
        assert torch.equal(inside(d, field), torch.ones(2, 1, h, w))
        # grid_sample's normalise / unnormalise round trip costs a few float32 ulps per pixel
        # of grid size (bilinear weights of 1 - 1e-6), never more
        torch.testing.assert_close(shift(field, d), field, rtol=0, atol=4 * EPS * max(h, w))


# ---- the wrappers ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lagrangian", "residual"])
def test_untrained_wrapper_forecasts_the_extrapolation_of_the_last_frame(mode):
    gen = torch.Generator().manual_seed(1)
    model = build("ms-convlstm", hidden=4, patch=1, t_in=3, t_out=5, advection=mode).eval()
    assert isinstance(model, AdvectionNowcaster) and model.mode == mode
    assert not model.net.head.weight.any() and not model.net.head.bias.any()
    frames = torch.rand(2, 3, 1, 16, 24, generator=gen)
    motion = smooth_motion(2, 16, 24, gen)
    with torch.no_grad():
        out = model.forecast(frames, motion)
        seven = model.forecast(frames, motion, steps=7)
    last = frames[:, -1]
    expected = torch.stack([shift(last, d) for d in trajectories(motion, 7)], dim=1)
    torch.testing.assert_close(out, expected[:, :5], rtol=0, atol=1e-6)
    torch.testing.assert_close(seven, expected, rtol=0, atol=1e-6)
    assert float((out[:, 0] - last).abs().max()) > 0.05  # the motion did move the rain


def test_untrained_cascade_wrapper_forecasts_the_cascade_moved_to_every_lead():
    gen = torch.Generator().manual_seed(1)
    model = build("ms-convlstm", hidden=4, patch=1, t_in=3, t_out=5, advection="cascade").eval()
    frames = torch.rand(2, 3, 1, 32, 24, generator=gen)
    motion = smooth_motion(2, 32, 24, gen)
    with torch.no_grad():
        out = model.forecast(frames, motion)
    ahead = trajectories(motion, 5)
    lagrangian = [shift(frames[:, 0], ahead[1]), shift(frames[:, 1], ahead[0]), frames[:, 2]]
    valid = inside(ahead[1], frames[:, 0]) * inside(ahead[0], frames[:, 0])
    prior = cascade.forecast(lagrangian, 5, valid)
    expected = torch.stack([shift(prior[k], ahead[k]) for k in range(5)], dim=1).clamp(0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    # random frames decorrelate: the cascade is smoother than the extrapolation of the last one
    extrapolation = torch.stack([shift(frames[:, 2], ahead[k]) for k in range(5)], dim=1)
    assert float(out[:, -1].std()) < 0.8 * float(extrapolation[:, -1].std())


def test_match_distribution_in_torch_is_the_workers_numpy_matching():
    from workers.engine import match_distribution as numpy_matching

    gen = torch.Generator().manual_seed(3)
    observed = torch.where(torch.rand(2, 1, 20, 30, generator=gen) < 0.3, 0.9, 0.0)
    observed = observed * torch.rand(2, 1, 20, 30, generator=gen)
    field = torch.rand(2, 1, 20, 30, generator=gen) * 0.2
    field[0, 0, :5] = 0.0  # dry pixels stay dry, as in the workers' version
    ours = match_distribution(field, observed)
    for b in range(2):
        theirs = numpy_matching(field[b].numpy(), observed[b, 0].numpy())
        np.testing.assert_allclose(ours[b].numpy(), theirs, atol=1e-7)
    assert not ours[0, 0, :5].any()


def test_frame_match_matches_each_lead_before_it_moves():
    """Each lead gets the last frame's distribution in the last frame's frame of reference, and
    only then moves: with zero motion that is the matching of the map; with rain flowing out of
    the grid, the rain that left is not spread again over what is left (as matching the map
    would)."""
    gen = torch.Generator().manual_seed(4)
    rain = torch.cat([blob(32, 32, 20 + 2 * t, 16, 4.0) for t in range(3)]).view(1, 3, 1, 32, 32)
    frames = 0.3 + 0.5 * rain + 0.05 * torch.rand(rain.shape, generator=gen)  # wet everywhere
    last = frames[:, -1]
    wet = float(last.flatten().sort().values[-200])  # the 200 wettest pixels and no more
    still, moving = torch.zeros(1, 2, 32, 32), constant(32, 32, 2.0, 0.0)
    for mode in ("cascade", "lagrangian"):
        plain = build("ms-convlstm", hidden=4, patch=1, t_in=3, t_out=6, advection=mode).eval()
        matched = build(
            "ms-convlstm", hidden=4, patch=1, t_in=3, t_out=6, advection=mode, frame_match=True
        ).eval()
        matched.load_state_dict(plain.state_dict())
        with torch.no_grad():
            on_map, out = plain.forecast(frames, still), matched.forecast(frames, still)
            for k in range(6):  # the same values, on the same pixels but for float ties
                expected = match_distribution(on_map[:, k], last)
                assert float(((out[:, k] - expected).abs() > 1e-5).float().mean()) < 0.01
            on_map, out = plain.forecast(frames, moving), matched.forecast(frames, moving)
        for k in (2, 5):  # 6 and 12 px moved out on the right
            assert int((match_distribution(on_map[:, k], last) >= wet).sum()) == 200
            assert int((out[:, k] >= wet).sum()) < 200 - 15 * k
            assert float(out[:, k, ..., : 2 * (k + 1)].max()) < 1e-5  # no inflow invented


def test_frame_match_needs_a_lagrangian_frame_mode():
    with pytest.raises(ValueError, match="frame_match needs a Lagrangian-frame"):
        build("ms-convlstm", hidden=4, advection="residual", frame_match=True)
    with pytest.raises(ValueError, match="frame_match needs a Lagrangian-frame"):
        build("ms-convlstm", hidden=4, frame_match=True)


def test_cascade_checkpoints_from_before_the_learned_fading_load_with_none():
    model = build("ms-convlstm", hidden=4, patch=1, t_in=3, t_out=2, advection="cascade")
    old = {k: v for k, v in model.state_dict().items() if k != "level_fade"}
    with torch.no_grad():
        model.level_fade.fill_(0.5)
    model.load_state_dict(old)
    assert not model.level_fade.any()
    model.level_fade.sum().backward()  # still a parameter the optimiser moves
    assert model.level_fade.grad is not None


def test_cascade_mode_needs_three_frames():
    with pytest.raises(ValueError, match="t_in >= 3"):
        build("ms-convlstm", hidden=4, patch=1, t_in=2, t_out=2, advection="cascade")
    model = build("ms-convlstm", hidden=4, patch=1, t_in=3, t_out=2, advection="cascade")
    with pytest.raises(ValueError, match="last three frames"):
        model.forecast(torch.rand(1, 2, 1, 16, 16), torch.zeros(1, 2, 16, 16))


@pytest.mark.parametrize("mode", MODES)
def test_training_pass_without_truth_mask_is_the_forecast(mode):
    gen = torch.Generator().manual_seed(2)
    model = build("ms-convlstm", hidden=4, patch=1, t_in=3, t_out=4, advection=mode).eval()
    randomise_head(model)
    seq = 0.5 * torch.rand(2, 7, 1, 16, 16, generator=gen)
    motion = smooth_motion(2, 16, 16, gen)
    with torch.no_grad():
        preds, _ = model(seq, None, motion)
        forecast = model.forecast(seq[:, :3], motion, steps=4)
    assert preds.shape == (2, 6, 1, 16, 16)
    torch.testing.assert_close(preds[:, 2:].clamp(0, 1), forecast, rtol=0, atol=1e-5)


def test_zero_motion_lagrangian_is_the_inner_networks_increment_rollout():
    gen = torch.Generator().manual_seed(3)
    t_in, steps = 3, 4
    model = build("ms-convlstm", hidden=4, patch=1, t_in=t_in, t_out=steps, advection="lagrangian")
    model.eval()
    randomise_head(model)
    frames = 0.6 * torch.rand(2, t_in, 1, 16, 16, generator=gen)
    with torch.no_grad():
        out = model.forecast(frames, torch.zeros(2, 2, 16, 16))
        state, pred, expected = None, None, []
        for t in range(t_in + steps - 1):  # the plain network, fed raw frames, adding increments
            x = frames[:, t] if t < t_in else pred
            delta, state, _ = model.net.step(x, state)
            pred = x + delta
            if t >= t_in - 1:
                expected.append(pred)
    expected = torch.stack(expected, dim=1).clamp(0, 1)
    assert float((expected - frames[:, -1:]).abs().max()) > 0.01  # the network does something
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-4)


def test_untrained_lagrangian_model_moves_a_blob_to_every_lead():
    h, w, t_in, steps = 48, 64, 4, 12
    model = build("ms-convlstm", hidden=4, patch=1, t_in=t_in, t_out=steps, advection="lagrangian")
    model.eval()
    x_last, y_last = 14.0, 34.0
    frames = torch.stack(
        [blob(h, w, x_last + U * (i - t_in + 1), y_last + V * (i - t_in + 1)) for i in range(t_in)],
        dim=1,
    )
    with torch.no_grad():
        out = model.forecast(0.8 * frames, constant(h, w))
    assert out.shape == (1, steps, 1, h, w)
    for k in range(1, steps + 1):
        cx, cy = centroid(out[:, k - 1])
        assert abs(cx - (x_last + k * U)) < 0.5 and abs(cy - (y_last + k * V)) < 0.5, (k, cx, cy)


def test_unknown_mode_is_refused():
    from models.network import Nowcaster
    from models.registry import config_for

    with pytest.raises(ValueError, match="unknown advection mode 'eulerian'"):
        AdvectionNowcaster(Nowcaster(config_for("convlstm", hidden=4)), "eulerian")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_trains_in_both_modes(name, mode):
    started = time.perf_counter()
    torch.manual_seed(0)
    model = build(name, hidden=4, patch=1, t_in=3, t_out=1, advection=mode)
    assert isinstance(model, AdvectionNowcaster) and model.config.advection == mode
    guided = mode in ("residual", "cascade")  # fed a guide beside the frame
    assert model.net.embed.in_channels == model.config.in_channels == (2 if guided else 1)
    assert not model.net.head.weight.any()  # starts as extrapolation
    size = 8 if 8 % model.stride == 0 else model.stride
    seq = torch.rand(2, 4, 1, size, size)
    motion = 0.5 * torch.randn(2, 2, size, size)
    randomise_head(model)  # so that the gradient reaches the stack and the embedding
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    preds, extra = model(seq, mask, motion)
    valid = model.loss_mask(motion, seq.shape[1])
    assert preds.shape == (2, 3, 1, size, size) and valid.shape == preds.shape
    assert torch.isfinite(preds).all() and torch.isfinite(extra)
    loss = ((preds - seq[:, 1:]) ** 2 * valid).mean() + 0.01 * extra
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), name
    assert grads["net.head.weight"].abs().sum() > 0 and grads["net.embed.weight"].abs().sum() > 0
    assert time.perf_counter() - started < 5  # 36 of these must stay well under a minute


EXPORTS = [
    ("ms-convlstm", "lagrangian"),
    ("ms-convlstm", "residual"),
    ("ms-convlstm", "cascade"),
    ("ms-predrnn", "lagrangian"),
]


@pytest.mark.parametrize("name, mode", EXPORTS)
def test_export_has_two_inputs_the_metadata_and_parity(name, mode, tmp_path):
    import onnx

    from models.export import PARITY_TOLERANCE, export_checked, metadata

    model = build(
        name,
        hidden=4,
        patch=1,
        t_in=3,
        t_out=3,
        advection=mode,
        motion_coarsen=3,
        motion_interp_step=4,
    )
    randomise_head(model)
    path, worst = export_checked(model, tmp_path / f"{name}-{mode}.onnx", metadata(model))
    assert worst < PARITY_TOLERANCE
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["frames", "motion"]
    motion = proto.graph.input[1].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in motion] == ["batch", 2, "H", "W"]
    meta = {e.key: e.value for e in proto.metadata_props}
    assert meta["inputs"] == "frames,motion" and meta["advection"] == mode
    assert meta["motion_method"] == "lk" and meta["motion_frames"] == "3"
    assert meta["motion_coarsen"] == "3" and meta["motion_interp_step"] == "4"
    plain = metadata(build(name, hidden=4))
    assert plain["inputs"] == "frames" and "advection" not in plain and "motion_method" not in plain


def reference_forecast(model: AdvectionNowcaster, frames, motion, steps: int):
    """The module docstring's two modes written out step by step for ``n`` input frames."""
    n = frames.shape[1]
    ahead = trajectories(motion, max(steps, n - 1))
    # every input frame t moved ahead by the n - 1 - t steps to the last one
    moved = [shift(frames[:, t], ahead[n - 2 - t]) if t < n - 1 else frames[:, t] for t in range(n)]
    if model.mode == "cascade":
        valid = inside(ahead[1], frames[:, 0]) * inside(ahead[0], frames[:, 0])
        prior = cascade.forecast(moved[-3:], steps, valid, fade=model.level_fade)
    state, pred, out = None, None, []
    for t in range(n + steps - 1):
        time = t + 2 - n  # of the frame this step emits, relative to the last input
        if model.mode == "lagrangian":  # in the frame of the last input, increments
            x = moved[t] if t < n else pred
            delta, state, _ = model.net.step(x, state)
            pred = x + delta
            if time >= 1:
                out.append(shift(pred, ahead[time - 1]))
        elif model.mode == "cascade":  # same frame; leads are corrections of the cascade
            x = moved[t] if t < n else pred
            guide = x if time <= 0 else prior[time - 1]
            delta, state, _ = model.net.step(torch.cat([x, guide], dim=1), state)
            pred = guide + delta
            if time >= 1:
                out.append(shift(pred, ahead[time - 1]))
        else:  # on the map, a correction to the extrapolation of the latest observed frame
            x = frames[:, t] if t < n else pred
            seen = frames[:, t] if time <= 0 else frames[:, -1]
            guide = shift(seen, ahead[max(time, 1) - 1])
            delta, state, _ = model.net.step(torch.cat([x, guide], dim=1), state)
            pred = guide + delta
            if time >= 1:
                out.append(pred)
    return torch.stack(out, dim=1).clamp(0, 1)


@pytest.mark.parametrize(
    "mode, frames_given",
    # the cascade's AR(2) needs three frames (refused with fewer, tested above)
    [(m, n) for m in MODES for n in (2, 3, 5) if not (m == "cascade" and n < 3)],
)
def test_forecast_follows_the_documented_modes_for_any_number_of_frames(mode, frames_given):
    gen = torch.Generator().manual_seed(4)
    model = build("ms-convlstm", hidden=4, patch=1, t_in=3, t_out=3, advection=mode).eval()
    randomise_head(model, seed=5)
    frames = 0.7 * torch.rand(2, frames_given, 1, 16, 16, generator=gen)
    motion = smooth_motion(2, 16, 16, gen)
    with torch.no_grad():
        out = model.forecast(frames, motion)
        expected = reference_forecast(model, frames, motion, 3)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
