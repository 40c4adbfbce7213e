"""The embedded service serving an advection-aware model file (inputs ``frames`` and ``motion``)
beside an old single-input one from the same model folder."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from radar.netcdf import write_netcdf
from tests.helpers import centroid, moving_blob_sequence
from tests.onnx_fixtures import extrapolation_model
from tests.service.conftest import make_client, upload, wait_for

VELOCITY = (2.0, -1.0)  # input-grid pixels (1 km) per 5-minute step


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory, model_dir: Path) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("pysteps")
    folder = tmp_path_factory.mktemp("mixed-models")
    shutil.copy(model_dir / "persistence.onnx", folder / "persistence.onnx")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        extrapolation_model(folder / "extrapolation.onnx", t_in=4, t_out=6, resolution_m=2000)
    finally:
        torch.set_num_threads(threads)
    return folder


def test_a_two_input_model_serves_a_valid_nowcast(mixed_dir: Path, tmp_path: Path) -> None:
    ds = moving_blob_sequence(5, 90, 86, VELOCITY)
    write_netcdf(ds, tmp_path / "blob.nc")
    with make_client(mixed_dir) as client:
        listing = {m["name"]: m for m in client.get("/models").json()["data"]}
        assert set(listing) == {"test-extrapolation", "test-persistence"}
        assert listing["test-extrapolation"]["metadata"]["inputs"] == "frames,motion"
        assert listing["test-extrapolation"]["metadata"]["advection"] == "lagrangian"
        assert "inputs" not in listing["test-persistence"]["metadata"]  # an old file

        results = {}
        for name in listing:
            r = client.post(
                "/nowcast",
                files=upload([tmp_path / "blob.nc"]),
                data={"model": name, "steps": "8"},
            )
            assert r.status_code == 202, r.text
            done = wait_for(client, r.json()["id"])
            assert done["status"] == "succeeded", done
            res = client.get(f"/jobs/{done['id']}/result")
            assert res.status_code == 200
            results[name] = xr.open_dataset(io.BytesIO(res.content), engine="h5netcdf").load()

    out = results["test-extrapolation"]
    rain = out["rainfall_rate"]
    assert rain.shape == (8, 90, 86) and rain.attrs["units"] == "mm h-1"
    assert out.attrs["model_name"] == "test-extrapolation"
    assert np.isfinite(rain.values).all() and float(rain.min()) >= 0
    ref = ds["time"].values[-1]
    assert out["forecast_reference_time"].values == ref
    steps = (out["time"].values - ref) / np.timedelta64(1, "m")
    assert steps.tolist() == [5, 10, 15, 20, 25, 30, 35, 40]
    x, y = centroid(ds["rainfall_rate"].values[-1])
    for k in range(1, 9):  # the rain moves on with the motion of the input frames
        cx, cy = centroid(rain.values[k - 1])
        assert abs(cx - (x + k * VELOCITY[0])) < 0.5 and abs(cy - (y + k * VELOCITY[1])) < 0.5
    # the old model in the same folder still serves: persistence stays where the rain was
    still = results["test-persistence"]["rainfall_rate"].values
    assert still.shape == (8, 90, 86)
    assert abs(centroid(still[-1])[0] - x) < 0.5 and abs(centroid(still[-1])[1] - y) < 0.5
