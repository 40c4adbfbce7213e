"""Grids: corners against published/independent coordinates, co-location across grids,
regridding."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from pyproj import Geod

from radar.grids import coarsen, grid_name, latlon, locate, pad_to_multiple, refine
from radar.sequence import read_sequence
from radar.synthetic import synthetic_sequence

GEOD = Geod(ellps="WGS84")


def km(lat1, lon1, lat2, lon2) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2] / 1000.0


def test_de1200_corners_match_odim_where(dwd_dir: Path) -> None:
    path = dwd_dir / "odim_ry/20250604_1630_RY.h5"
    with h5py.File(io.BytesIO(path.read_bytes())) as h5:
        where = dict(h5["where"].attrs)
    ds = read_sequence(path)
    lat, lon = latlon(ds)
    # ODIM corners are outer pixel corners; our coordinates are pixel centres (0.71 km away)
    assert km(lat[0, 0], lon[0, 0], where["UL_lat"], where["UL_lon"]) < 1.0
    assert km(lat[-1, 0], lon[-1, 0], where["LL_lat"], where["LL_lon"]) < 1.0
    assert km(lat[0, -1], lon[0, -1], where["UR_lat"], where["UR_lon"]) < 1.0
    assert km(lat[-1, -1], lon[-1, -1], where["LR_lat"], where["LR_lon"]) < 1.0


def test_national_grid_corners_match_dwd_description(dwd_dir: Path) -> None:
    """DWD's RADOLAN format description gives the 900x900 grid's corners (outer edges)."""
    ds = read_sequence(
        dwd_dir / "radolan_to_netcdf/radolan_ry/raa01-ry_10000-2001011500-dwd---bin.gz"
    )
    lat, lon = latlon(ds)
    assert grid_name(lat.shape) == "national"
    assert km(lat[-1, 0], lon[-1, 0], 46.9526, 3.5889) < 1.0  # south-west
    assert km(lat[0, 0], lon[0, 0], 54.5877, 2.0715) < 1.0  # north-west


@pytest.mark.parametrize("lat, lon", [(50.1109, 8.6821), (52.5200, 13.4050), (48.1351, 11.5820)])
def test_same_place_on_national_and_de1200_grids(dwd_dir: Path, lat: float, lon: float) -> None:
    """Frankfurt, Berlin, Munich: the pixel found in each grid is centred within 1 km of the
    place, and the two pixel centres lie within 1 km of each other."""
    national = read_sequence(
        dwd_dir / "radolan_to_netcdf/radolan_ry/raa01-ry_10000-2001011500-dwd---bin.gz"
    )
    de1200 = read_sequence(dwd_dir / "odim_ry/20250604_1630_RY.h5")
    centres = []
    for ds in (national, de1200):
        row, col = locate(ds, lat, lon)
        plat, plon = latlon(ds.isel(y=[row], x=[col]))
        centres.append((float(plat[0, 0]), float(plon[0, 0])))
        assert km(lat, lon, *centres[-1]) < 0.75
    assert km(*centres[0], *centres[1]) < 1.0


def test_coarsen_conserves_rain_and_refine_restores_grid() -> None:
    ds = synthetic_sequence(frames=2, height=64, width=48, seed=3)
    coarse = coarsen(ds, 4)
    assert coarse.sizes["y"] == 16 and coarse.sizes["x"] == 12
    np.testing.assert_allclose(
        coarse["rainfall_rate"].mean().item(), ds["rainfall_rate"].mean().item(), rtol=1e-5
    )
    fine = refine(coarse, ds)
    assert fine["rainfall_rate"].shape == ds["rainfall_rate"].shape
    assert not np.isnan(fine["rainfall_rate"].values).any()
    corr = np.corrcoef(fine["rainfall_rate"].values.ravel(), ds["rainfall_rate"].values.ravel())[
        0, 1
    ]
    assert corr > 0.9


def test_coarsen_ignores_nan_but_keeps_all_nan_blocks() -> None:
    ds = synthetic_sequence(frames=1, height=8, width=8, seed=1)
    rain = ds["rainfall_rate"].values
    rain[0, :4, :4] = np.nan
    rain[0, 4:, :4] = 2.0
    rain[0, 4, 0] = np.nan
    out = coarsen(ds, 4)["rainfall_rate"].values[0]
    assert np.isnan(out[0, 0])
    assert out[1, 0] == pytest.approx(2.0)


def test_pad_to_multiple() -> None:
    arr = np.ones((2, 1200, 1100), dtype=np.float32)
    padded, shape = pad_to_multiple(arr, 16)
    assert padded.shape == (2, 1200, 1104) and shape == (1200, 1100)
    assert padded[:, :, 1100:].sum() == 0


def _refine_reference(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The former refine: scipy's bilinear map_coordinates, edges held (float64 inside)."""
    from scipy.ndimage import map_coordinates

    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([map_coordinates(f, [rr, cc], order=1, mode="nearest") for f in values]).astype(
        values.dtype
    )


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_refine_equals_map_coordinates(factor: int) -> None:
    ds = synthetic_sequence(frames=3, height=50, width=37, seed=4, nodata_border=3)
    coarse = coarsen(ds, factor)
    values = coarse["rainfall_rate"].values
    values[1, 2, 3] = np.nan  # an inner no-data pixel spreads to its bilinear neighbourhood
    fine = refine(coarse, ds)["rainfall_rate"].values
    x, y = coarse["x"].values, coarse["y"].values
    rows = (ds["y"].values - y[0]) / (y[1] - y[0])
    cols = (ds["x"].values - x[0]) / (x[1] - x[0])
    expected = _refine_reference(values, rows, cols)
    assert fine.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(fine), np.isnan(expected))
    np.testing.assert_allclose(fine, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_refine_array_holds_edges_and_hits_nodes() -> None:
    from radar.grids import refine_array

    values = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    x, y = np.arange(4.0), np.arange(3.0)
    out = refine_array(values, x, y, np.array([-1.0, 0.0, 1.5, 3.0, 9.0]), np.array([-2.0, 2.0]))
    np.testing.assert_allclose(out[0], [[0, 0, 1.5, 3, 3], [8, 8, 9.5, 11, 11]])


def test_latlon_is_cached_per_grid_and_read_only() -> None:
    ds = synthetic_sequence(frames=1, height=20, width=30, seed=1)
    lat, lon = latlon(ds)
    assert latlon(ds)[0] is lat  # the same grid again: no new projection
    assert not lat.flags.writeable and not lon.flags.writeable
    other = ds.isel(x=slice(5, None))
    np.testing.assert_array_equal(latlon(other)[1], lon[:, 5:])
