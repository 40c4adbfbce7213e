"""End to end with the real Redis and a real Celery worker process (nothing mocked)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from fastapi.testclient import TestClient

from service.main import create_app
from tests.service.conftest import drop_keys, upload, wait_for, worker_process, worker_settings


def test_ry_frames_through_celery_and_cache(redis_client, dwd_dir: Path) -> None:
    files = sorted((dwd_dir / "radolan_to_netcdf/radolan_ry").glob("*.gz"))
    r = redis_client.post("/nowcast", files=upload(files))
    assert r.status_code == 202, r.text
    job = wait_for(redis_client, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["compute_seconds"] > 0 and job["result_bytes"] > 0
    res = redis_client.get(f"/jobs/{job['id']}/result")
    ds = xr.open_dataset(io.BytesIO(res.content), engine="h5netcdf")
    assert (
        ds["rainfall_rate"].shape == (6, 900, 900)
        and ds["rainfall_rate"].attrs["units"] == "mm h-1"
    )
    assert str(ds["time"].values[0]).startswith("2020-01-01T16:05")
    store = redis_client.app.state.store
    before = store.stats()["computations"]
    again = redis_client.post("/nowcast", files=upload(files))
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    assert store.stats()["computations"] == before  # counted by the worker, in Redis
    metrics = redis_client.get("/metrics").text
    assert 'nowcast_jobs_total{counter="computations"}' in metrics
    ready = redis_client.get("/readyz").json()
    assert ready["checks"]["workers"] is True and ready["checks"]["store"] is True


def odim_sequence(src: Path, folder: Path, n: int = 4) -> list[Path]:
    """Copies of the real ODIM RY frame with /what times 5 minutes apart (a generated fixture)."""
    out = []
    start = pd.Timestamp("2025-06-04T16:30")
    for k in range(n):
        path = folder / f"ry_{k}.h5"
        path.write_bytes(src.read_bytes())
        t = start + pd.Timedelta(minutes=5 * k)
        with h5py.File(path, "r+") as h5:
            h5["what"].attrs["time"] = np.bytes_(t.strftime("%H%M%S"))
            h5["dataset1/what"].attrs["endtime"] = np.bytes_(t.strftime("%H%M%S"))
            h5["dataset1/what"].attrs["starttime"] = np.bytes_(
                (t - pd.Timedelta(minutes=5)).strftime("%H%M%S")
            )
        out.append(path)
    return out


def test_odim_frames_through_celery(redis_client, dwd_dir: Path, tmp_path: Path) -> None:
    files = odim_sequence(dwd_dir / "odim_ry/20250604_1630_RY.h5", tmp_path)
    r = redis_client.post("/nowcast", files=upload(files), data={"steps": "3"})
    assert r.status_code == 202, r.text
    assert r.json()["input_grid"] == "1200x1100"
    job = wait_for(redis_client, r.json()["id"])
    assert job["status"] == "succeeded", job
    ds = xr.open_dataset(
        io.BytesIO(redis_client.get(f"/jobs/{job['id']}/result").content), engine="h5netcdf"
    )
    assert ds["rainfall_rate"].shape == (3, 1200, 1100)
    assert str(ds["forecast_reference_time"].values).startswith("2025-06-04T16:45")


def test_netcdf_input_through_celery(redis_client, tmp_path: Path) -> None:
    from radar.netcdf import write_netcdf
    from radar.synthetic import synthetic_sequence

    write_netcdf(synthetic_sequence(frames=5, height=64, width=48, seed=3), tmp_path / "seq.nc")
    r = redis_client.post("/nowcast", files=upload([tmp_path / "seq.nc"]))
    job = wait_for(redis_client, r.json()["id"])
    assert job["status"] == "succeeded" and job["input_grid"] == "64x48"


def test_worker_failure_is_reported(redis_client, tmp_path: Path) -> None:
    """Frames that pass the gateway's header checks but not the worker's full decode."""
    from tests.helpers import radolan_bytes

    files = []
    for k, t in enumerate(pd.date_range("2024-07-01T12:00", periods=4, freq="5min")):
        # SF (a daily sum) has a valid header, so the gateway accepts it; the worker refuses it
        data = radolan_bytes(
            "SF", np.zeros((900, 900), np.uint16), when=t.strftime("%Y-%m-%dT%H:%M")
        )
        files.append(("frames", (f"f{k}", data)))
    r = redis_client.post("/nowcast", files=files)
    assert r.status_code == 202, r.text
    job = wait_for(redis_client, r.json()["id"])
    assert job["status"] == "failed" and "not a rain rate" in job["error"]


def test_a_new_worker_warms_up_and_publishes_its_providers(redis_url: str, model_dir: Path) -> None:
    """A fresh worker, sent no job: its child builds the default model's session and runs it
    once at start (the warm-up), then publishes the providers that session really uses;
    /readyz and /models show them per worker child."""
    settings = worker_settings(redis_url, model_dir)
    try:
        with worker_process(settings), TestClient(create_app(settings)) as client:
            deadline = time.monotonic() + 120
            while not (providers := client.get("/readyz").json()["providers"]):
                assert time.monotonic() < deadline, "no worker published its providers"
                time.sleep(0.5)
            assert len(providers) == 1  # one child
            (child,) = providers.values()
            assert child == {"test-persistence": ["CPUExecutionProvider"]}
            assert client.get("/models").json()["providers"] == providers
    finally:
        drop_keys(settings)
