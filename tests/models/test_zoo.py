"""Every registry variant: ONNX parity, the MS wiring facts, and that each one learns."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import torch.nn.functional as F  # noqa: E402

from models.cells import CELLS  # noqa: E402
from models.export import export_onnx, parity  # noqa: E402
from models.registry import VARIANTS, build, flat_twin  # noqa: E402
from models.stack import MS_SCALES  # noqa: E402
from models.training import sequence_loss  # noqa: E402

TINY = {"hidden": 8, "patch": 2, "t_in": 2, "t_out": 3}
MS_VARIANTS = [n for n, (_, ms) in VARIANTS.items() if ms]


def test_registry_has_a_flat_and_an_ms_variant_per_cell():
    assert len(VARIANTS) == 2 * len(CELLS)
    for cell in CELLS:
        assert VARIANTS[cell] == (cell, False)
        ms = "ms-lstm" if cell == "mk-lstm" else f"ms-{cell}"  # MS-LSTM keeps its paper name
        assert VARIANTS[ms] == (cell, True)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_onnx_agrees_with_torch_at_two_sizes_and_two_batch_sizes(name, tmp_path):
    torch.manual_seed(0)
    model = build(name, **TINY)
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    s = model.stride
    worst = parity(model, path, sizes=((4 * s, 4 * s), (6 * s, 3 * s)), batches=(1, 3))
    assert worst < 1e-4


@pytest.mark.parametrize("name", MS_VARIANTS)
def test_ms_adds_no_parameters_to_its_flat_twin(name):
    ms = build(name, hidden=16)
    flat = build(flat_twin(name), hidden=16)
    assert sum(p.numel() for p in ms.parameters()) == sum(p.numel() for p in flat.parameters())


@pytest.mark.parametrize("name", MS_VARIANTS)
def test_layer_states_live_at_h_h2_h4_h4_h2_h(name):
    model = build(name, hidden=8)
    x = torch.zeros(2, 8, 24, 40)
    state = model.stack.init_state(x)
    for layer, scale in zip(state.layers, MS_SCALES, strict=True):
        assert layer["h"].shape == (2, 8, 24 // scale, 40 // scale)
    flat = build(flat_twin(name), hidden=8).stack.init_state(x)
    assert all(layer["h"].shape == (2, 8, 24, 40) for layer in flat.layers)


def test_decoder_layers_add_the_encoder_side_hidden_states():
    model = build("ms-convlstm", hidden=8).eval()
    inputs, outputs = {}, {}

    def record(i):
        def hook(module, args, out):
            inputs[i], outputs[i] = args[0], out.h

        return hook

    for i, cell in enumerate(model.stack.cells):
        cell.register_forward_hook(record(i))
    with torch.no_grad():
        model.step(torch.rand(1, 1, 16, 16))

    def up(t, like):
        return F.interpolate(t, size=like.shape[-2:], mode="bilinear", align_corners=False)

    torch.testing.assert_close(inputs[1], F.max_pool2d(outputs[0], 2))
    torch.testing.assert_close(inputs[2], F.max_pool2d(outputs[1], 2))
    torch.testing.assert_close(inputs[3], outputs[2])  # no skip at the bottleneck
    torch.testing.assert_close(inputs[4], up(outputs[3], outputs[1]) + outputs[1])
    torch.testing.assert_close(inputs[5], up(outputs[4], outputs[0]) + outputs[0])


def test_sizes_that_are_not_multiples_of_the_stride_are_refused():
    model = build("ms-convlstm", hidden=4, patch=2)
    assert model.stride == 8
    with pytest.raises(ValueError, match="stride 8"):
        model.forecast(torch.rand(1, 5, 1, 16, 20))


def moving_blob(batch: int, steps: int, size: int = 16) -> torch.Tensor:
    """A Gaussian blob moving one pixel per step, from random starts (pixel space)."""
    gen = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    out = torch.zeros(batch, steps, 1, size, size)
    for b in range(batch):
        y0, x0 = torch.randint(3, size - 3 - steps, (2,), generator=gen).tolist()
        for t in range(steps):
            r2 = (yy - y0 - t) ** 2 + (xx - x0 - t) ** 2
            out[b, t, 0] = 0.8 * torch.exp(-r2 / 8.0)
    return out


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_learns_a_moving_blob(name):
    torch.manual_seed(0)
    model = build(name, hidden=8, patch=1, t_in=2, t_out=2)
    seq = moving_blob(batch=4, steps=4)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)

    def loss_now() -> float:
        with torch.no_grad():
            preds, _ = model(seq)
        return float(sequence_loss(preds, seq[:, 1:]))

    before = loss_now()
    no_rain = float(sequence_loss(torch.zeros_like(seq[:, 1:]), seq[:, 1:]))
    for _ in range(50):
        preds, extra = model(seq)  # the training recipe's loss (REFERENCE.md §4)
        loss = sequence_loss(preds, seq[:, 1:]) + 0.01 * extra
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = loss_now()
    assert after < 0.5 * before  # the loss falls clearly
    assert after < no_rain  # and beats forecasting no rain at all


def test_macs_match_the_papers_count_and_ms_costs_0_4375_of_flat():
    from models.profile import macs

    # REFERENCE.md §2: ConvLSTM, Germany setting (124x124, 5 -> 5, 9 steps): 244.9 / 107.3 G
    assert macs("convlstm", 124) / 1e9 == pytest.approx(244.9, rel=0.002)
    assert macs("ms-convlstm", 124) / 1e9 == pytest.approx(107.3, rel=0.002)
    pyramid = (1 + 1 / 4 + 1 / 16 + 1 / 16 + 1 / 4 + 1) / 6
    for flat, ms in (("convlstm", "ms-convlstm"), ("mk-lstm", "ms-lstm")):
        assert macs(ms, 128) / macs(flat, 128) == pytest.approx(pyramid, abs=0.002)


def test_export_refuses_and_deletes_a_graph_that_disagrees(tmp_path):
    from models.export import ParityError, export_checked

    model = build("ms-convlstm", **TINY)
    path, worst = export_checked(model, tmp_path / "ok.onnx")
    assert path.exists() and worst < 1e-4
    with pytest.raises(ParityError, match="parity check failed"):
        export_checked(model, tmp_path / "bad.onnx", tolerance=-1.0)  # nothing can pass
    assert not (tmp_path / "bad.onnx").exists()


def test_nowcast_export_writes_metadata_from_a_checkpoint(tmp_path):
    from models.checkpoint import save_checkpoint
    from nowcast.cli import main
    from workers.catalog import read_model_info

    model = build("ms-lstm", **TINY)
    save_checkpoint(tmp_path / "run.pt", model, scores={"val_loss": 1.5, "val_windows": 3})
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(out), "--steps", "6"]) == 0
    entry = read_model_info(out)
    assert (entry.name, entry.t_in, entry.t_out, entry.stride) == ("ms-lstm", 2, 6, 8)
    assert entry.meta["validation_scores"] == '{"val_loss": 1.5, "val_windows": 3}'
    assert entry.meta["postprocess"] == "none"
    out = tmp_path / "cdf.onnx"
    assert (
        main(["export", str(tmp_path / "run.pt"), "-o", str(out), "--postprocess", "cdf-match"])
        == 0
    )
    assert read_model_info(out).meta["postprocess"] == "cdf-match"
    assert main(["export", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.onnx")]) == 2


def test_a_checkpoint_exports_with_the_postprocessing_it_was_trained_for(tmp_path, capsys):
    from models.checkpoint import save_checkpoint
    from nowcast.cli import main
    from nowcast.commands.evaluate import _export_checkpoint
    from workers.catalog import read_model_info

    model = build("ms-lstm", **TINY)
    run = save_checkpoint(
        tmp_path / "run.pt", model, train_config={"postprocess": "cdf-match", "data": ["a"]}
    )
    assert main(["export", str(run), "-o", str(tmp_path / "m.onnx")]) == 0
    entry = read_model_info(tmp_path / "m.onnx")
    assert entry.meta["postprocess"] == "cdf-match"
    assert '"train": ["a"]' in entry.meta["training_data"]
    assert len(entry.meta["version"]) == 8 and entry.meta["version"].startswith("20")
    assert main(["export", str(run), "-o", str(tmp_path / "n.onnx"), "--postprocess", "none"]) == 0
    assert read_model_info(tmp_path / "n.onnx").meta["postprocess"] == "none"
    # nowcast evaluate scores a checkpoint as it would be served
    scored = _export_checkpoint(str(run), 3, tmp_path)
    assert read_model_info(scored).meta["postprocess"] == "cdf-match"
    assert read_model_info(scored).t_out == 3
    # where workers track motion: only for a model with a motion input
    grid = ["--motion-grid", "input"]
    assert main(["export", str(run), "-o", str(tmp_path / "g.onnx"), *grid]) == 2
    assert "takes no motion input: motion_grid does not apply" in capsys.readouterr().err
    assert not (tmp_path / "g.onnx").exists()
    cascade = build("ms-convlstm", advection="cascade", **{**TINY, "t_in": 3})
    moving = save_checkpoint(tmp_path / "c.pt", cascade, train_config={"advection": "cascade"})
    assert main(["export", str(moving), "-o", str(tmp_path / "c.onnx"), *grid]) == 0
    assert read_model_info(tmp_path / "c.onnx").meta["motion_grid"] == "input"
    assert "motion_grid" not in read_model_info(scored).meta


def test_frame_cdf_match_is_exported_into_the_graph_and_served_as_it_is(tmp_path, capsys):
    """``--postprocess frame-cdf-match`` puts the matching into the graph (config
    ``frame_match``), passes parity up to the matching's tie swaps, and the engine leaves its
    output alone and refuses to switch it; models without a Lagrangian frame refuse it."""
    import numpy as np

    from models.checkpoint import save_checkpoint
    from models.export import FRAME_MATCH
    from nowcast.cli import main
    from workers.catalog import read_model_info
    from workers.engine import POSTPROCESSING, Engine, EngineError, match_distribution

    assert FRAME_MATCH in POSTPROCESSING
    cascade = build("ms-convlstm", advection="cascade", **{**TINY, "t_in": 3})
    run = save_checkpoint(tmp_path / "c.pt", cascade, train_config={"postprocess": "cdf-match"})
    out = tmp_path / "f.onnx"
    assert main(["export", str(run), "-o", str(out), "--postprocess", FRAME_MATCH]) == 0
    meta = read_model_info(out).meta
    assert meta["postprocess"] == FRAME_MATCH and '"frame_match": true' in meta["config"]
    plain = tmp_path / "p.onnx"
    assert main(["export", str(run), "-o", str(plain)]) == 0
    assert '"frame_match": false' in read_model_info(plain).meta["config"]

    engine, mapped = Engine(out), Engine(plain)
    assert engine.postprocess == FRAME_MATCH
    rng = np.random.default_rng(0)
    pixels = np.where(rng.random((3, 32, 32)) < 0.4, 0.3 + 0.5 * rng.random((3, 32, 32)), 0.0)
    still = np.zeros((1, 2, 32, 32), np.float32)  # then matching before moving = after
    got = engine.forecast_pixels(pixels.astype(np.float32), 3, motion=still)
    after = mapped.forecast_pixels(pixels.astype(np.float32), 3, motion=still)
    expected = match_distribution(after, pixels[-1])
    assert np.mean(np.abs(got - expected) > 1e-4) < 0.01
    with pytest.raises(EngineError, match="cannot run with 'cdf-match'"):
        Engine(out, postprocess="cdf-match")
    with pytest.raises(EngineError, match="cannot run with 'frame-cdf-match'"):
        Engine(plain, postprocess=FRAME_MATCH)

    residual = build("ms-convlstm", advection="residual", **TINY)
    guided = save_checkpoint(tmp_path / "r.pt", residual, train_config={})
    no = tmp_path / "r.onnx"
    assert main(["export", str(guided), "-o", str(no), "--postprocess", FRAME_MATCH]) == 2
    assert "needs a Lagrangian-frame advection mode" in capsys.readouterr().err
    assert not no.exists()
