"""The result views over HTTP: point forecast, probabilities, bbox, GeoTIFF, PNG, GIF, errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from tests.service.conftest import upload, wait_for


@pytest.fixture()
def job(client, dwd_dir: Path) -> str:
    files = sorted((dwd_dir / "radolan_to_netcdf/radolan_ry").glob("*.gz"))[:4]
    job = client.post("/nowcast", files=upload(files)).json()
    assert wait_for(client, job["id"])["status"] == "succeeded"
    return job["id"]


def result(client, job_id: str, **params):
    r = client.get(f"/jobs/{job_id}/result", params=params)
    assert r.status_code == 200, r.text
    return r


def test_point_forecast_is_the_netcdf_value_at_the_nearest_pixel(client, job: str) -> None:
    ds = xr.open_dataset(io.BytesIO(result(client, job).content), engine="h5netcdf")
    rain = ds["rainfall_rate"].values
    places = [np.unravel_index(np.nanargmax(rain[0]), rain[0].shape), (450, 450)]
    lats = [float(ds["lat"].values[p]) + 0.002 for p in places]  # off the centre, same pixel
    lons = [float(ds["lon"].values[p]) - 0.002 for p in places]
    answer = result(
        client, job, format="json", lat=",".join(map(str, lats)), lon=",".join(map(str, lons))
    ).json()
    assert isinstance(answer, list) and len(answer) == 2
    for point, lat, lon in zip(answer, lats, lons, strict=True):
        # nearest pixel by great-circle distance on the file's own lat/lon
        phi, lam = np.radians(ds["lat"].values), np.radians(ds["lon"].values)
        cos = np.sin(phi) * np.sin(np.radians(lat)) + np.cos(phi) * np.cos(
            np.radians(lat)
        ) * np.cos(lam - np.radians(lon))
        row, col = np.unravel_index(np.argmax(cos), cos.shape)
        series = point["minutely_5"]["rainfall_rate"]
        np.testing.assert_allclose(series, np.round(rain[:, row, col], 2), atol=1e-6)
        assert point["minutely_5"]["time"][0] == str(ds["time"].values[0])[:16]
        assert point["generationtime_ms"] > 0 and point["minutely_5_units"]["rainfall_rate"]
        probs = np.array([point["minutely_5"]["probability"][k] for k in ("0.1", "1", "5")])
        assert probs.min() >= 0 and probs.max() <= 1 and (np.diff(probs, axis=0) <= 0).all()
    wet = answer[0]
    assert wet["rain"]["start"] == wet["minutely_5"]["time"][0]  # it rains there from lead 1


def test_probability_netcdf_and_bbox(client, job: str) -> None:
    full = xr.open_dataset(io.BytesIO(result(client, job).content), engine="h5netcdf")
    r = result(client, job, probability="true", thresholds="0.2,2", bbox="8,49,10,51")
    ds = xr.open_dataset(io.BytesIO(r.content), engine="h5netcdf")
    prob = ds["probability_of_exceedance"]
    assert ds["threshold"].values.tolist() == pytest.approx([0.2, 2.0])
    assert float(prob.min()) >= 0 and float(prob.max()) <= 1
    assert (prob.values[0] >= prob.values[1] - 1e-6)[np.isfinite(prob.values[1])].all()
    assert ds.sizes["x"] < full.sizes["x"] and ds.sizes["y"] < full.sizes["y"]
    assert ds["crs"].attrs["crs_wkt"] == full["crs"].attrs["crs_wkt"]
    assert float(ds["lat"].min()) < 49.05 and float(ds["lat"].max()) > 50.95
    sub = full.sel(x=ds["x"], y=ds["y"])  # the subset is a cut of the same pixels
    np.testing.assert_array_equal(ds["rainfall_rate"].values, sub["rainfall_rate"].values)


def test_geotiff_png_gif_layer(client, job: str) -> None:
    rasterio = pytest.importorskip("rasterio")
    summary = result(client, job, format="json").json()
    assert summary["steps"] == [-3, -2, -1, 0, 1, 2, 3, 4, 5, 6]
    with rasterio.MemoryFile(result(client, job, format="geotiff").content) as memfile:
        with memfile.open() as src:
            assert src.count == 6 and (src.width, src.height) == (900, 900)
    png = Image.open(io.BytesIO(result(client, job, format="png", step=0).content))
    gif = Image.open(io.BytesIO(result(client, job, format="gif").content))
    assert gif.format == "GIF" and gif.n_frames == 10 and gif.size == png.size
    layer = Image.open(io.BytesIO(result(client, job, format="layer", step=2).content))
    assert layer.size == (900, 900) and layer.mode == "P"
    prob = result(client, job, format="layer", step=2, layer="probability", threshold=0.5)
    assert Image.open(io.BytesIO(prob.content)).size == (900, 900)
    lines = result(client, job, format="borders").json()["lines"]
    assert len(lines) > 20  # Germany's neighbours, in pixel coordinates of the grid
    inside = [p for line in lines for p in line if 0 <= p[0] <= 900 and 0 <= p[1] <= 900]
    assert len(inside) > 500
    states = result(client, job, format="borders").json()["states"]  # German state borders
    assert len(states) >= 20
    inside = [p for line in states for p in line if 0 <= p[0] <= 900 and 0 <= p[1] <= 900]
    assert len(inside) > 400


@pytest.mark.parametrize(
    "params",
    [
        {"format": "json", "lat": "50", "lon": "8,9"},
        {"format": "json", "lat": "10", "lon": "10"},
        {"format": "json", "lat": "abc", "lon": "8"},
        {"format": "json", "lat": "95", "lon": "8"},
        {"format": "netcdf", "bbox": "10,50,8,52"},
        {"format": "geotiff", "bbox": "100,10,110,20"},
        {"format": "netcdf", "probability": "true", "thresholds": "-1"},
        {"format": "layer", "step": "-9"},
        {"format": "tiff"},
    ],
)
def test_bad_view_parameters_are_422(client, job: str, params: dict) -> None:
    r = client.get(f"/jobs/{job}/result", params=params)
    assert r.status_code == 422, r.text
    assert "detail" in r.json()
