"""The engine with advection-aware model files (a second graph input ``motion``, DESIGN.md §4)
and with the old single-input files, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.errors import ModelError
from radar.synthetic import synthetic_sequence
from tests.helpers import centroid, moving_blob_sequence
from tests.onnx_fixtures import extrapolation_model, persistence_model
from workers.engine import Engine
from workers.seam import SHIPPED_MODELS

pytest.importorskip("onnx")
pytest.importorskip("pysteps")

VELOCITY = (2.0, -1.0)  # pixels of the 1 km input grid per 5-minute step


@pytest.fixture(scope="module")
def two_input_model(tmp_path_factory) -> Path:
    """An untrained lagrangian model at 2 km: its forecast is the extrapolation of the last frame
    along the motion the engine estimates (models.advection)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folder = tmp_path_factory.mktemp("advection")
        return extrapolation_model(folder / "x.onnx", t_in=4, t_out=3, resolution_m=2000)
    finally:
        torch.set_num_threads(threads)


def test_the_old_single_input_model_file_still_forecasts(monkeypatch):
    engine = Engine(SHIPPED_MODELS / "ms-convlstm-2km.onnx", device="cpu")
    assert engine.inputs == ["frames"] and not engine.needs_motion
    assert "advection" not in engine.info.meta

    def no_motion(*args, **kwargs):
        raise AssertionError("motion estimated for a model without a motion input")

    monkeypatch.setattr("radar.motion.estimate_motion", no_motion)
    ds = synthetic_sequence(frames=engine.info.t_in, height=90, width=86, seed=4)
    out = engine.predict(ds, steps=3)
    rain = out["rainfall_rate"].values
    assert rain.shape == (3, 90, 86) and np.isfinite(rain).all() and rain.min() >= 0
    last = ds["rainfall_rate"].values[-1]
    assert np.corrcoef(last.ravel(), rain[0].ravel())[0, 1] > 0.6


def test_a_two_input_model_moves_the_rain_with_the_estimated_motion(two_input_model):
    engine = Engine(two_input_model, device="cpu")
    assert engine.inputs == ["frames", "motion"] and engine.needs_motion
    assert engine.info.meta["inputs"] == "frames,motion"
    # 90 x 86 at 1 km -> 45 x 43 at the model's 2 km -> padded to 48 x 44 (stride 4)
    ds = moving_blob_sequence(5, 90, 86, VELOCITY)
    seen = []
    out = engine.predict(ds, steps=6, progress=seen.append)  # t_out 3: rolls out once
    rain = out["rainfall_rate"].values
    assert rain.shape == (6, 90, 86) and np.isfinite(rain).all() and seen[-1] == 1.0
    x, y = centroid(ds["rainfall_rate"].values[-1])
    for k in range(1, 7):
        cx, cy = centroid(rain[k - 1])
        assert abs(cx - (x + k * VELOCITY[0])) < 0.5, (k, cx)
        assert abs(cy - (y + k * VELOCITY[1])) < 0.5, (k, cy)
        assert 0.8 < rain[k - 1].max() / ds["rainfall_rate"].values[-1].max() < 1.1


def test_the_motion_input_is_in_model_pixels_and_padded(two_input_model):
    from radar.transforms import rain_to_pixel

    engine = Engine(two_input_model, device="cpu")
    ds = moving_blob_sequence(4, 90, 86, VELOCITY)
    rain = ds["rainfall_rate"].values.reshape(4, 45, 2, 43, 2).mean(axis=(2, 4))  # to 2 km
    motion = engine.motion(rain_to_pixel(rain), (48, 44))
    assert motion.shape == (1, 2, 48, 44) and motion.dtype == np.float32
    near = rain[-1] > 1.0
    np.testing.assert_allclose(motion[0, 0, :45, :43][near], VELOCITY[0] / 2, atol=0.1)
    np.testing.assert_allclose(motion[0, 1, :45, :43][near], VELOCITY[1] / 2, atol=0.1)
    np.testing.assert_array_equal(motion[0, :, 45:, :43], np.repeat(motion[0, :, 44:45, :43], 3, 1))
    np.testing.assert_array_equal(motion[0, :, :45, 43:], motion[0, :, :45, 42:43])


def test_the_motion_is_estimated_as_the_metadata_says(tmp_path):
    pytest.importorskip("torch")
    from radar.motion import estimate_motion
    from radar.transforms import pixel_to_rain, rain_to_pixel

    path = extrapolation_model(
        tmp_path / "m.onnx", resolution_m=2000, motion_coarsen=1, motion_interp_step=4
    )
    engine = Engine(path, device="cpu")
    assert engine.info.meta["motion_interp_step"] == "4"
    ds = moving_blob_sequence(4, 90, 86, VELOCITY)
    pixels = rain_to_pixel(ds["rainfall_rate"].values.reshape(4, 45, 2, 43, 2).mean(axis=(2, 4)))
    motion = engine.motion(pixels, (45, 43))[0]
    rain = pixel_to_rain(pixels[-3:])
    np.testing.assert_array_equal(motion, estimate_motion(rain, "lk", 3, 1, 4))
    assert not np.array_equal(motion, estimate_motion(rain, "lk", 3, 1, 1))


def test_motion_on_the_input_grid_is_tracked_there_and_moves_the_rain(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from radar.motion import coarsen_motion, estimate_motion

    path = extrapolation_model(tmp_path / "m.onnx", t_out=3, resolution_m=2000,
                               motion_coarsen=1, motion_interp_step=4,
                               meta={"motion_grid": "input"})  # fmt: skip
    engine = Engine(path, device="cpu")
    assert engine.motion_grid == "input"
    ds = moving_blob_sequence(5, 90, 86, VELOCITY)
    rain = ds["rainfall_rate"].values
    # tracked on the 1 km grid, nodes 8 input pixels (16 km, as 4 model pixels) apart
    expected = coarsen_motion(estimate_motion(rain[-3:], "lk", 3, 1, 8), 2)
    motion = engine.input_motion(rain[-4:], 2, (48, 44))
    assert motion.shape == (1, 2, 48, 44)
    np.testing.assert_array_equal(motion[0, :, :45, :43], expected)
    near = rain[-1].reshape(45, 2, 43, 2).mean(axis=(1, 3)) > 1.0
    np.testing.assert_allclose(motion[0, 0, :45, :43][near], VELOCITY[0] / 2, atol=0.1)
    calls = []
    own = engine.input_motion
    monkeypatch.setattr(engine, "input_motion", lambda *a: calls.append(a[1]) or own(*a))
    out = engine.predict(ds, steps=6)["rainfall_rate"].values  # t_out 3: rolls out once
    assert calls == [2]  # the rollout's second run tracks its own forecast on the model grid
    x, y = centroid(rain[-1])
    for k in range(1, 7):
        cx, cy = centroid(out[k - 1])
        assert abs(cx - (x + k * VELOCITY[0])) < 0.5 and abs(cy - (y + k * VELOCITY[1])) < 0.5


def test_refusals(two_input_model, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    engine = Engine(two_input_model, device="cpu")
    frames = np.zeros((1, 4, 1, 8, 8), np.float32)
    with pytest.raises(ModelError, match="needs a motion field"):
        engine.run_pixels(frames)
    assert engine.run_pixels(frames, np.zeros((1, 2, 8, 8), np.float32)).shape == (1, 3, 1, 8, 8)
    model = onnx.load(str(persistence_model(tmp_path / "p.onnx")))
    model.graph.input.append(
        helper.make_tensor_value_info("quality", TensorProto.FLOAT, ["batch", 1, "H", "W"])
    )
    onnx.save(model, str(tmp_path / "p.onnx"))
    with pytest.raises(ModelError, match=r"unknown inputs \['quality'\]"):
        Engine(tmp_path / "p.onnx", device="cpu")
    odd = extrapolation_model(tmp_path / "g.onnx", t_out=1, meta={"motion_grid": "radar"})
    with pytest.raises(ModelError, match="unknown motion_grid 'radar'; known: model, input"):
        Engine(odd, device="cpu")
