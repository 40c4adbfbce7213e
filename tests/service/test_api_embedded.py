"""The HTTP API in embedded mode (in-process jobs, memory store): flows and every 4xx."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import radolan_bytes
from tests.service.conftest import make_client, upload, wait_for


def ry_files(dwd_dir: Path, n: int = 13) -> list[Path]:
    return sorted((dwd_dir / "radolan_to_netcdf/radolan_ry").glob("*.gz"))[:n]


def test_real_ry_frames_end_to_end(client, dwd_dir: Path) -> None:
    files = ry_files(dwd_dir)
    r = client.post("/nowcast", files=upload(files), data={"steps": "8"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == f"/jobs/{job['id']}"
    assert job["frames"] == 13 and job["input_grid"] == "900x900" and job["product"] == "RY"
    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    res = client.get(f"/jobs/{job['id']}/result")
    assert res.status_code == 200 and res.headers["content-type"] == "application/x-netcdf"
    ds = xr.open_dataset(io.BytesIO(res.content), engine="h5netcdf")
    assert ds["rainfall_rate"].shape == (8, 900, 900)
    assert ds["rainfall_rate"].attrs["units"] == "mm h-1"
    assert str(ds["forecast_reference_time"].values).startswith("2020-01-01T16:00")
    steps = (ds["time"].values - ds["forecast_reference_time"].values) / np.timedelta64(1, "m")
    assert steps.tolist() == [5, 10, 15, 20, 25, 30, 35, 40]
    assert "Deutscher Wetterdienst" in ds.attrs["attribution"]
    # embedded mode reports the providers of its own session, made by this job
    cpu = {"test-persistence": ["CPUExecutionProvider"]}
    assert client.get("/readyz").json()["providers"] == {"embedded": cpu}
    assert client.get("/models").json()["providers"] == {"embedded": cpu}


def test_same_request_is_not_recomputed(client, dwd_dir: Path, monkeypatch) -> None:
    import service.api.routes.nowcast as route

    checked = []  # the header checks run for a new job only (a hit's bytes passed them)
    real_infos = route.frame_infos
    monkeypatch.setattr(route, "frame_infos", lambda f: checked.append(len(f)) or real_infos(f))
    files = upload(ry_files(dwd_dir, 4))
    first = client.post("/nowcast", files=files).json()
    wait_for(client, first["id"])
    stats = client.app.state.store.stats()
    again = client.post("/nowcast", files=list(reversed(files)))  # order does not matter
    assert again.status_code == 200 and again.json()["id"] == first["id"] and again.json()["cached"]
    after = client.app.state.store.stats()
    assert after["computations"] == stats["computations"]
    assert after["cache_hits"] == stats.get("cache_hits", 0) + 1
    assert checked == [4]
    other = client.post("/nowcast", files=files, data={"steps": "3"}).json()
    assert other["id"] != first["id"]  # different parameters, different job


def test_result_views(client, dwd_dir: Path) -> None:
    job = client.post("/nowcast", files=upload(ry_files(dwd_dir, 4))).json()
    wait_for(client, job["id"])
    summary = client.get(f"/jobs/{job['id']}/result", params={"format": "json"}).json()
    assert len(summary["frames"]) == 6 and summary["units"] == "mm h-1"
    point = client.get(
        f"/jobs/{job['id']}/result", params={"format": "json", "lat": 50.11, "lon": 8.68}
    ).json()
    assert len(point["minutely_5"]["rainfall_rate"]) == 6
    png = client.get(f"/jobs/{job['id']}/result", params={"format": "png", "step": 2})
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    bad = client.get(f"/jobs/{job['id']}/result", params={"format": "png", "step": 99})
    assert bad.status_code == 422 and bad.json()["code"] == "bad_parameter"
    far = client.get(
        f"/jobs/{job['id']}/result", params={"format": "json", "lat": 10.0, "lon": 10.0}
    )
    assert far.status_code == 422


def test_netcdf_input(client, dwd_dir: Path, tmp_path: Path) -> None:
    from nowcast.cli import main

    assert main(["convert", *map(str, ry_files(dwd_dir, 5)), "-o", str(tmp_path / "seq.nc")]) == 0
    job = client.post("/nowcast", files=upload([tmp_path / "seq.nc"])).json()
    assert job["frames"] == 5
    assert wait_for(client, job["id"])["status"] == "succeeded"


def test_models_health_ready_metrics(client) -> None:
    models = client.get("/models").json()
    assert models["count"] == 1 and models["default"] == "test-persistence"
    assert models["data"][0]["t_in"] == 4 and models["data"][0]["metadata"]["arch"] == "persistence"
    assert client.get("/healthz").json() == {"status": "ok", "mode": "embedded"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"]
    assert b"nowcast_requests" in client.get("/metrics").content


# ---- bad requests: each its documented 4xx, never a 500 -------------------------------------


def frame(when: str, shape=(900, 900), product="RY") -> tuple:
    raw = np.zeros(shape, dtype=np.uint16)
    stamp = when.replace("-", "").replace("T", "").replace(":", "")
    return ("frames", (f"raa01-{product.lower()}-{stamp}", radolan_bytes(product, raw, when=when)))


def memberless_tar(mode: str = "w") -> bytes:
    """A tar archive holding only a folder: no file to read."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        folder = tarfile.TarInfo("frames")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    return buffer.getvalue()


FOUR = ["2024-07-01T12:00", "2024-07-01T12:05", "2024-07-01T12:10", "2024-07-01T12:15"]


@pytest.mark.parametrize(
    "files, data, status, code",
    [
        ([], {}, 400, "no_files"),
        ([frame(t) for t in FOUR[:2]], {}, 422, "too_few_frames"),
        (
            [frame(t) for t in FOUR[:3]] + [frame(FOUR[3], shape=(1100, 900), product="RY")],
            {},
            422,
            "mixed_grids",
        ),
        ([frame(t) for t in FOUR[:3]] + [frame(FOUR[3], product="RW")], {}, 422, "mixed_products"),
        ([frame(t) for t in FOUR[:3]] + [frame("2024-07-01T12:25")], {}, 422, "not_consecutive"),
        ([frame(t) for t in FOUR] + [frame(FOUR[0])], {}, 422, "not_consecutive"),
        ([frame(t) for t in FOUR], {"model": "no-such-model"}, 404, "unknown_model"),
        ([frame(t) for t in FOUR], {"steps": "500"}, 422, "bad_parameter"),
        ([("frames", ("junk.bin", b"\x00\x01garbage" * 100))], {}, 415, "unsupported_format"),
        ([("frames", ("empty.h5", b""))], {}, 415, "unsupported_format"),
        ([("frames", ("empty.tar", memberless_tar()))], {}, 422, "bad_frames"),
        ([("frames", ("empty.tar.bz2", memberless_tar("w:bz2")))], {}, 422, "bad_frames"),
        (
            [("frames", ("cut", radolan_bytes("RY", np.zeros((900, 900), np.uint16))[:5000]))],
            {},
            422,
            "bad_frames",
        ),
    ],
    ids=[
        "no-files",
        "too-few",
        "mixed-grids",
        "mixed-products",
        "gap",
        "duplicate",
        "unknown-model",
        "too-many-steps",
        "garbage",
        "empty",
        "tar-without-files",
        "tar-bz2-without-files",
        "truncated",
    ],
)
def test_bad_requests(client, files, data, status, code) -> None:
    r = (
        client.post("/nowcast", files=files, data=data)
        if files
        else client.post("/nowcast", data=data)
    )
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["detail"]


def test_upload_over_the_limit(model_dir: Path) -> None:
    with make_client(model_dir, max_upload_mb=1.0) as c:
        r = c.post("/nowcast", files=[frame(t) for t in FOUR])  # 4 x 1.6 MB
        assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_unknown_job_and_unfinished_result(client) -> None:
    assert client.get("/jobs/abc").status_code == 404
    assert client.get("/jobs/abc/result").json()["code"] == "job_not_found"


def test_failure_inside_the_worker_is_a_failed_job(tmp_path: Path) -> None:
    """A model that breaks at run time (fixed 16x16 input) fails the job with a readable error."""
    from onnx import TensorProto, helper

    from tests.onnx_fixtures import persistence_model

    path = persistence_model(tmp_path / "fixed.onnx", name="fixed-size")
    import onnx

    model = onnx.load(str(path))
    model.graph.input[0].CopyFrom(
        helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, 4, 1, 16, 16])
    )
    onnx.save(model, str(path))
    with make_client(tmp_path) as c:
        job = c.post("/nowcast", files=[frame(t) for t in FOUR]).json()
        done = wait_for(c, job["id"])
        assert done["status"] == "failed" and done["error"].startswith("internal error")
        r = c.get(f"/jobs/{job['id']}/result")
        assert r.status_code == 409 and r.json()["code"] == "job_failed"


def test_openapi_documents_routes_and_errors(client) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/nowcast",
        "/jobs/{job_id}",
        "/jobs/{job_id}/result",
        "/models",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    post = spec["paths"]["/nowcast"]["post"]["responses"]
    for status in ("202", "400", "404", "413", "415", "422"):
        assert status in post
