"""CF-NetCDF: convert real sequences, open them with plain xarray, round-trip within the
quantisation step, and read pysteps' exporter output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import xarray as xr

from nowcast.cli import main
from radar.netcdf import QUANTUM, write_netcdf
from radar.sequence import read_sequence
from radar.synthetic import synthetic_sequence


def test_convert_ry_sequence(dwd_dir: Path, tmp_path: Path) -> None:
    files = sorted((dwd_dir / "radolan_to_netcdf/radolan_ry").glob("*.gz"))
    out = tmp_path / "ry.nc"
    assert main(["convert", *map(str, files), "-o", str(out)]) == 0
    ds = xr.open_dataset(out)
    assert ds.sizes["time"] == 13
    assert str(ds["time"].values[0]).startswith("2020-01-01T15:00")
    assert str(ds["time"].values[-1]).startswith("2020-01-01T16:00")
    assert ds["rainfall_rate"].attrs["units"] == "mm h-1"
    assert ds["rainfall_rate"].attrs["grid_mapping"] == "crs"
    crs = pyproj.CRS.from_wkt(ds["crs"].attrs["crs_wkt"])
    assert crs.ellipsoid.semi_major_metre == pytest.approx(6370040.0)
    assert "lat" in ds.coords and ds["lat"].shape == (900, 900)
    assert float(ds["lat"][0, 0]) > float(ds["lat"][-1, 0])  # north-up
    src = read_sequence(files)
    np.testing.assert_allclose(
        ds["rainfall_rate"].values,
        src["rainfall_rate"].values,
        atol=QUANTUM / 2 + 1e-6,
        equal_nan=True,
    )


def test_convert_rv_archive(dwd_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rv.nc"
    assert (
        main(["convert", str(dwd_dir / "dwd_utils/DE1200_RV2506151820.tar.bz2"), "-o", str(out)])
        == 0
    )
    size_mb = out.stat().st_size / 1e6
    assert size_mb < 10, f"25 DE1200 frames took {size_mb:.1f} MB"
    ds = xr.open_dataset(out)
    assert ds["rainfall_rate"].shape == (25, 1200, 1100)
    assert str(ds["forecast_reference_time"].values).startswith("2025-06-15T18:20")
    steps = np.diff(ds["time"].values) / np.timedelta64(1, "m")
    assert (steps == 5).all()
    crs = pyproj.CRS.from_wkt(ds["crs"].attrs["crs_wkt"])
    assert crs.ellipsoid.name.startswith("WGS 84")
    assert "+proj=stere" in ds["crs"].attrs["proj4_params"]


def test_roundtrip_within_quantisation(tmp_path: Path) -> None:
    ds = synthetic_sequence(frames=4, height=40, width=32, seed=5, nodata_border=2)
    ds["rainfall_rate"][0, 10, 10] = 123.456
    first = tmp_path / "a.nc"
    write_netcdf(ds, first)
    back = read_sequence(first)
    np.testing.assert_array_equal(np.isnan(back["rainfall_rate"]), np.isnan(ds["rainfall_rate"]))
    np.testing.assert_allclose(back["rainfall_rate"], ds["rainfall_rate"], atol=QUANTUM / 2 + 1e-6)
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)
    second = tmp_path / "b.nc"
    write_netcdf(back, second)
    again = read_sequence(second)
    np.testing.assert_array_equal(again["rainfall_rate"].values, back["rainfall_rate"].values)
    assert again.attrs["source_product"] == "SYNTHETIC"


def test_in_memory_write_matches_file(tmp_path: Path) -> None:
    ds = synthetic_sequence(frames=2, height=16, width=16, seed=2)
    data = write_netcdf(ds)
    assert data[:8] == b"\x89HDF\r\n\x1a\n"
    back = read_sequence(data)
    np.testing.assert_allclose(back["rainfall_rate"], ds["rainfall_rate"], atol=QUANTUM / 2 + 1e-6)


def test_reads_pysteps_exporter_output(tmp_path: Path) -> None:
    exporters = pytest.importorskip("pysteps.io.exporters")
    from datetime import datetime

    proj = "+proj=stere +lat_0=90 +lat_ts=60 +lon_0=10 +ellps=WGS84 +x_0=0 +y_0=0 +units=m +no_defs"
    meta = {
        "projection": proj,
        "x1": 0.0,
        "x2": 48000.0,
        "y1": -64000.0,
        "y2": 0.0,
        "xpixelsize": 1000.0,
        "ypixelsize": 1000.0,
        "yorigin": "upper",
        "unit": "mm/h",
        "accutime": 5,
        "transform": None,
        "zerovalue": 0.0,
        "threshold": 0.1,
        "institution": "test",
        "cartesian_unit": "m",
    }
    rng = np.random.default_rng(0)
    field = (rng.random((6, 64, 48)) * 5).astype(float)
    exp = exporters.initialize_forecast_exporter_netcdf(
        str(tmp_path), "fc", datetime(2024, 7, 1, 12, 0), 5, 6, (64, 48), meta
    )
    exporters.export_forecast_dataset(field, exp)
    exporters.close_forecast_files(exp)
    ds = read_sequence(tmp_path / "fc.nc")
    assert ds["rainfall_rate"].shape == (6, 64, 48)
    np.testing.assert_allclose(ds["rainfall_rate"].values, field, rtol=1e-6)
    assert str(ds["time"].values[0]).startswith("2024-07-01T12:05")
    assert ds["y"].values[0] > ds["y"].values[-1]


def test_packed_writer_writes_what_xarray_encoder_would(tmp_path: Path) -> None:
    """write_netcdf packs the rain itself (a frame at a time); the stored quanta and their
    attributes must be those of xarray's CF encoder on the same dataset."""
    import netCDF4

    from radar.netcdf import encoding_for, to_netcdf_dataset

    ds = synthetic_sequence(frames=3, height=40, width=32, seed=7, nodata_border=2)
    rain = ds["rainfall_rate"].values
    rain[0, 10, 10:14] = [0.005, 0.015, 0.025, 1234.0]  # halves round to even; beyond the max
    rain[1, 5, 5] = -1.0
    out = to_netcdf_dataset(ds)
    out.to_netcdf(tmp_path / "xr.nc", engine="netcdf4", encoding=encoding_for(out))
    write_netcdf(ds, tmp_path / "ours.nc")
    write_netcdf(ds, tmp_path / "fast.nc", complevel=1)
    files = [netCDF4.Dataset(tmp_path / n) for n in ("xr.nc", "ours.nc", "fast.nc")]
    variables = [f["rainfall_rate"] for f in files]
    for var in variables:
        var.set_auto_maskandscale(False)
    ref = variables[0]
    for var in variables[1:]:
        assert var.dtype == np.int16
        np.testing.assert_array_equal(var[:], ref[:])
        assert {k: ref.getncattr(k) for k in ref.ncattrs()} == {
            k: var.getncattr(k) for k in var.ncattrs()
        }
        assert var.chunking() == ref.chunking()
    assert ref.filters()["complevel"] == 4 and variables[2].filters()["complevel"] == 1
    assert variables[2].filters()["zlib"] and variables[2].filters()["shuffle"]
    back = xr.open_dataset(tmp_path / "fast.nc")
    assert float(back["rainfall_rate"][0, 10, 13]) == pytest.approx((2**15 - 1) * QUANTUM)
