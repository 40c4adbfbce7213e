"""The onnxruntime engine around a model: regrid, pad, roll out, back to the input grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.errors import ModelError
from radar.synthetic import synthetic_sequence
from radar.transforms import pixel_to_rain, rain_to_pixel
from tests.onnx_fixtures import persistence_model
from workers.catalog import read_model_info
from workers.engine import Engine

pytest.importorskip("onnx")


def test_metadata_is_read(tmp_path: Path) -> None:
    info = read_model_info(persistence_model(tmp_path / "m.onnx", t_in=3, t_out=5, stride=8))
    assert (info.t_in, info.t_out, info.stride, info.name) == (3, 5, 8, "test-persistence")
    assert info.public()["validation_scores"] == {}


def test_persistence_on_odd_grid_returns_input_grid(tmp_path: Path) -> None:
    engine = Engine(persistence_model(tmp_path / "m.onnx", stride=8), device="cpu")
    ds = synthetic_sequence(frames=6, height=37, width=29, seed=2, nodata_border=2)
    out = engine.predict(ds)
    assert out["rainfall_rate"].shape == (6, 37, 29)
    last = ds["rainfall_rate"].values[-1]
    expected = pixel_to_rain(rain_to_pixel(np.nan_to_num(last)))
    expected[expected < 0.01] = 0
    for k in range(6):
        np.testing.assert_allclose(
            out["rainfall_rate"].values[k],
            np.where(np.isfinite(last), expected, np.nan),
            rtol=1e-4,
            atol=1e-4,
            equal_nan=True,
        )
    ref = ds["time"].values[-1]
    assert out["forecast_reference_time"].values == ref
    assert ((out["time"].values - ref) / np.timedelta64(1, "m")).tolist() == [5, 10, 15, 20, 25, 30]


def test_rollout_beyond_t_out(tmp_path: Path) -> None:
    engine = Engine(persistence_model(tmp_path / "m.onnx", t_out=3, scale=0.9), device="cpu")
    ds = synthetic_sequence(frames=4, height=16, width=16, seed=1)
    seen = []
    out = engine.predict(ds, steps=7, progress=seen.append)
    assert out.sizes["time"] == 7 and seen[-1] == 1.0
    peak = out["rainfall_rate"].max(("y", "x")).values
    assert (np.diff(peak) <= 1e-6).all() and peak[-1] < peak[0]  # 0.9 per step in pixel space


def test_coarser_model_resolution_is_regridded(tmp_path: Path) -> None:
    engine = Engine(persistence_model(tmp_path / "m.onnx", resolution_m=4000), device="cpu")
    ds = synthetic_sequence(frames=4, height=64, width=48, seed=5)
    out = engine.predict(ds, steps=2)
    assert out["rainfall_rate"].shape == (2, 64, 48)
    last = ds["rainfall_rate"].values[-1]
    corr = np.corrcoef(out["rainfall_rate"].values[0].ravel(), last.ravel())[0, 1]
    assert corr > 0.9


def test_errors(tmp_path: Path) -> None:
    engine = Engine(persistence_model(tmp_path / "m.onnx", t_in=4), device="cpu")
    with pytest.raises(ModelError, match="needs 4 frames, got 2"):
        engine.predict(synthetic_sequence(frames=2, height=8, width=8))
    with pytest.raises(ModelError, match="every 5 min"):
        engine.predict(synthetic_sequence(frames=4, height=8, width=8, cadence_minutes=10))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Engine(bad)


def test_predict_reports_phase_timings(tmp_path: Path) -> None:
    engine = Engine(persistence_model(tmp_path / "m.onnx", resolution_m=2000), device="cpu")
    timings: dict[str, float] = {}
    engine.predict(synthetic_sequence(frames=4, height=32, width=24, seed=3), timings=timings)
    assert set(timings) == {"prepare", "inference", "regrid"}
    assert all(seconds >= 0 for seconds in timings.values())


def test_run_job_records_phases_and_a_readable_result(tmp_path: Path) -> None:
    from radar.netcdf import write_netcdf
    from radar.sequence import read_sequence
    from workers.nowcast_job import EngineCache, run_job
    from workers.seam import now_iso
    from workers.store import MemoryJobStore

    persistence_model(tmp_path / "p.onnx", resolution_m=2000)
    store = MemoryJobStore()
    frames = write_netcdf(synthetic_sequence(frames=4, height=32, width=24, seed=3))
    job = {"id": "j", "status": "queued", "model": "test-persistence", "steps": 3}
    store.create({**job, "created": now_iso()}, [("seq.nc", frames)])
    assert run_job("j", store, EngineCache(tmp_path, device="cpu")) == "succeeded"
    record = store.get("j")
    assert set(record["timings"]) == {"decode", "prepare", "inference", "regrid", "encode"}
    assert sum(record["timings"].values()) <= record["compute_seconds"] + 0.01
    assert read_sequence(store.result("j")).sizes["time"] == 3
