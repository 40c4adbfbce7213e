"""Outputs of a result: CF compliance, GeoTIFF placement, bbox subsets, probabilities."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest

from radar.canonical import make_sequence
from radar.grids import dataset_crs, latlon
from radar.netcdf import write_netcdf
from radar.outputs import (
    add_probability,
    parse_bbox,
    subset_bbox,
    with_observations,
    write_geotiff,
)
from radar.probability import exceedance, parse_thresholds
from radar.sequence import read_sequence

# Corners (lon, lat of the outer pixel edges) as DWD publishes them: the RADOLAN format
# description for the 900x900 grid, the ODIM file's own /where for DE1200.
RADOLAN_900_CORNERS = {"LL": (3.5889, 46.9526), "UL": (2.0715, 54.5877),
                       "UR": (15.7208, 54.7405), "LR": (14.6209, 47.0705)}  # fmt: skip


def ry_frames(dwd_dir: Path, n: int = 4) -> list[Path]:
    return sorted((dwd_dir / "radolan_to_netcdf/radolan_ry").glob("*.gz"))[:n]


def as_forecast(observed):
    """The observed frames relabelled as a nowcast issued at the last one (a result's shape)."""
    rain = observed["rainfall_rate"].values.copy()
    rain[:, 400:420, 300:330] = np.linspace(0.05, 12.0, 20 * 30).reshape(20, 30)  # some rain
    ref = pd.Timestamp(observed["time"].values[-1])
    times = ref + pd.to_timedelta(5 * np.arange(1, len(rain) + 1), unit="min")
    return make_sequence(
        rain, times, observed["x"].values, observed["y"].values, dataset_crs(observed),
        dict(observed.attrs), forecast_reference_time=ref.to_datetime64(),
    )  # fmt: skip


def test_result_netcdf_is_cf_compliant(dwd_dir: Path, tmp_path: Path) -> None:
    """compliance-checker cf:1.8 finds no error in a result with observations and
    probabilities (it found 6 before: uint16, int64 times, _FillValue on x/y, ...)."""
    runner = pytest.importorskip("compliance_checker.runner")
    observed = read_sequence(ry_frames(dwd_dir))
    result = add_probability(with_observations(as_forecast(observed), observed), (0.1, 1, 5))
    path = tmp_path / "result.nc"
    write_netcdf(result, path)
    runner.CheckSuite.load_all_available_checkers()
    report = tmp_path / "cf.json"
    runner.ComplianceChecker.run_checker(
        str(path), ["cf:1.8"], 0, "normal", output_filename=str(report), output_format="json"
    )
    checks = json.loads(report.read_text())["cf:1.8"]
    errors = [c for c in checks["high_priorities"] if c["value"][0] < c["value"][1]]
    assert errors == [], errors
    warnings = [m for c in checks["medium_priorities"] for m in c["msgs"]]
    assert not [m for m in warnings if "history" in m or "title" in m], warnings
    back = read_sequence(path)  # and it is still our own input format
    np.testing.assert_allclose(
        back["rainfall_rate"].values, result["rainfall_rate"].values, atol=0.006
    )


def _corners(tif: bytes) -> dict[str, tuple[float, float]]:
    import rasterio

    with rasterio.MemoryFile(tif) as memfile, memfile.open() as src:
        to_lonlat = pyproj.Transformer.from_crs(src.crs.to_wkt(), "EPSG:4326", always_xy=True)
        b = src.bounds
        edges = {"LL": (b.left, b.bottom), "UL": (b.left, b.top), "UR": (b.right, b.top),
                 "LR": (b.right, b.bottom)}  # fmt: skip
        return {k: to_lonlat.transform(*xy) for k, xy in edges.items()}


def test_geotiff_corners_match_the_dwd_grids(dwd_dir: Path) -> None:
    pytest.importorskip("rasterio")
    import h5py

    odim = dwd_dir / "odim_ry/20250604_1630_RY.h5"
    with h5py.File(odim) as h5:
        where = h5["where"].attrs
        de1200 = {
            k: (float(where[f"{k}_lon"]), float(where[f"{k}_lat"])) for k in RADOLAN_900_CORNERS
        }
    for source, expected in ((odim, de1200), (ry_frames(dwd_dir, 1)[0], RADOLAN_900_CORNERS)):
        got = _corners(write_geotiff(read_sequence(source)))
        for name, (lon, lat) in expected.items():
            assert got[name] == pytest.approx((lon, lat), abs=1e-3), (source.name, name)


def test_geotiff_bands_and_placement(dwd_dir: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    observed = read_sequence(ry_frames(dwd_dir))
    result = add_probability(as_forecast(observed), (0.1, 1.0))
    with rasterio.MemoryFile(write_geotiff(result)) as memfile, memfile.open() as src:
        assert src.count == 4 and (src.height, src.width) == (900, 900)
        assert pyproj.CRS.from_wkt(src.crs.to_wkt()).equals(dataset_crs(result))
        np.testing.assert_array_equal(src.read(3), result["rainfall_rate"].values[2])
        row, col = 410, 310  # the centre of that pixel is where the grid says
        x, y = src.xy(row, col)
        assert (x, y) == pytest.approx((result["x"].values[col], result["y"].values[row]))
    tif = write_geotiff(result, "probability_of_exceedance")
    with rasterio.MemoryFile(tif) as memfile, memfile.open() as src:
        assert src.count == 8 and "P(>=1 mm/h)" in src.descriptions[4]
        np.testing.assert_array_equal(src.read(5), result["probability_of_exceedance"].values[1, 0])


def test_bbox_subset_has_the_right_extent_and_crs(dwd_dir: Path) -> None:
    ds = read_sequence(ry_frames(dwd_dir, 1))
    box = parse_bbox("8,49,10,51")
    sub = subset_bbox(ds, box)
    assert dataset_crs(sub).equals(dataset_crs(ds))
    lat, lon = latlon(sub)
    # the box's corners lie inside the subset, and the subset is no larger than needed:
    # every edge row/column of it touches the box's outline
    to_grid = pyproj.Transformer.from_crs("EPSG:4326", dataset_crs(ds), always_xy=True)
    outline = np.array([(8, 49), (10, 49), (10, 51), (8, 51), (9, 49), (9, 51)], float)
    px, py = to_grid.transform(outline[:, 0], outline[:, 1])
    dx = float(sub["x"][1] - sub["x"][0])
    assert sub["x"].values[0] - dx / 2 <= px.min() and px.max() <= sub["x"].values[-1] + dx / 2
    assert sub["y"].values[-1] - dx / 2 <= py.min() and py.max() <= sub["y"].values[0] + dx / 2
    assert lat.min() < 49.05 and lat.max() > 50.95 and lon.min() < 8.05 and lon.max() > 9.95
    assert sub.sizes["x"] < 200 and sub.sizes["y"] < 260  # about 145 x 225 km
    with pytest.raises(ValueError):
        parse_bbox("10,49,8,51")
    with pytest.raises(ValueError):
        parse_bbox("a,b,c")
    with pytest.raises(Exception, match="does not overlap"):
        subset_bbox(ds, parse_bbox("100,10,110,20"))


def test_probabilities_are_bounded_monotone_and_spread_with_lead() -> None:
    rng = np.random.default_rng(3)
    rain = rng.gamma(0.4, 3.0, size=(3, 60, 50)).astype(np.float32)
    rain[:, :5, :] = np.nan  # no data
    thresholds = parse_thresholds("5,0.1,1")
    assert thresholds == (0.1, 1.0, 5.0)
    prob = exceedance(rain, thresholds, [5, 30, 60], pixel_km=1.0)
    valid = prob[:, :, 5:, :]
    assert np.isfinite(valid).all() and valid.min() >= 0 and valid.max() <= 1
    assert (np.diff(valid, axis=0) <= 0).all()  # P(>= 0.1) >= P(>= 1) >= P(>= 5)
    assert np.isnan(prob[:, :, :5, :]).all()
    single = np.zeros((2, 41, 41), np.float32)
    single[:, 20, 20] = 10.0  # one wet pixel: its probability dilutes as the radius grows
    p = exceedance(single, [1.0], [5, 60], pixel_km=1.0)[0, :, 20, 20]
    assert 0 < p[1] < p[0] <= 1
    for bad in ("0,1", "x", "-1"):
        with pytest.raises(ValueError):
            parse_thresholds(bad)


def test_probabilities_equal_the_neighbourhood_definition(dwd_dir: Path) -> None:
    """The per-lead loop (fast) gives what the whole-array definition gives, on DE1200."""
    from scipy.ndimage import uniform_filter

    frame = read_sequence(dwd_dir / "odim_ry/20250604_1630_RY.h5")["rainfall_rate"].values[-1]
    thresholds, leads = (0.1, 1.0, 5.0), [5, 60, 120]
    rain = np.stack([np.roll(frame, (k, 2 * k), axis=(0, 1)) for k in range(len(leads))])
    ok = np.isfinite(rain)
    expected = np.empty((len(thresholds), *rain.shape), np.float32)
    for k, lead in enumerate(leads):
        size = 2 * int(round(0.7 * lead)) + 1  # 1 km pixels
        share = uniform_filter(ok[k].astype(np.float32), size, mode="constant")
        for j, t in enumerate(thresholds):
            hit = uniform_filter(
                (np.nan_to_num(rain[k], nan=-1) >= t).astype(np.float32), size, mode="constant"
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                expected[j, k] = np.where(ok[k], np.clip(hit / share, 0, 1), np.nan)
    expected = np.flip(np.maximum.accumulate(np.flip(expected, axis=0), axis=0), axis=0)
    np.testing.assert_allclose(exceedance(rain, thresholds, leads, 1.0), expected, atol=1e-6)


def test_netcdf_with_probability_round_trips(dwd_dir: Path) -> None:
    import xarray as xr

    observed = read_sequence(ry_frames(dwd_dir))
    result = add_probability(as_forecast(observed), (0.1, 1, 5))
    back = xr.open_dataset(io.BytesIO(write_netcdf(result)), engine="h5netcdf")
    prob = back["probability_of_exceedance"]
    assert prob.dims == ("threshold", "time", "y", "x") and prob.attrs["units"] == "1"
    np.testing.assert_allclose(prob.values, result["probability_of_exceedance"].values, atol=0.0051)
