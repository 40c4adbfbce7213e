"""ODIM_H5 composites: values checked against the raw HDF5 datasets read with h5py alone."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from radar.sequence import read_sequence


def raw_odim(data: bytes) -> tuple[np.ndarray, dict, dict]:
    with h5py.File(io.BytesIO(data), "r") as h5:
        raw = h5["dataset1/data1/data"][...]
        what = dict(h5["dataset1/data1/what"].attrs.items())
        where = dict(h5["where"].attrs.items())
    return raw, what, where


def decode(raw: np.ndarray, what: dict, scale: float) -> np.ndarray:
    value = raw.astype(np.float64) * what["gain"] + what["offset"]
    value = np.where(raw == what["undetect"], 0.0, value)
    value = np.clip(value, 0, None) * scale
    return np.where(raw == what["nodata"], np.nan, value)


def check(ds, raw, what, scale) -> None:
    want = decode(raw, what, scale)  # ODIM row 0 is the northern edge: no flip
    ours = ds["rainfall_rate"].values[0]
    assert ours.shape == (1200, 1100)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(want))
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-4, equal_nan=True)
    assert np.nanmax(ours) == pytest.approx(np.nanmax(want), rel=1e-5)
    assert int(np.isnan(ours).sum()) == int((raw == what["nodata"]).sum())
    assert ds["y"].values[0] > ds["y"].values[-1]
    assert ds["rainfall_rate"].attrs["units"] == "mm h-1"


def test_odim_ry_rate(dwd_dir: Path) -> None:
    path = dwd_dir / "odim_ry/20250604_1630_RY.h5"
    raw, what, _ = raw_odim(path.read_bytes())
    assert what["quantity"] == b"RATE" and what["gain"] == pytest.approx(0.01)
    ds = read_sequence(path)
    check(ds, raw, what, scale=1.0)
    assert str(ds["time"].values[0]).startswith("2025-06-04T16:30")
    assert ds.attrs["source_product"] == "RY"
    # undetect is no rain, not missing
    assert (ds["rainfall_rate"].values[0] == 0).sum() >= (raw == what["undetect"]).sum()


def test_odim_rw_hourly_amount(dwd_dir: Path) -> None:
    path = dwd_dir / "radolan-guide/hdf5/raa01-rw_10000-latest-dwd---bin.hdf5"
    raw, what, _ = raw_odim(path.read_bytes())
    assert what["quantity"] == b"ACRR"
    ds = read_sequence(path)
    check(ds, raw, what, scale=1.0)  # mm per hour is mm/h
    assert ds.attrs["accutime_minutes"] == 60


def test_new_rv_tar_of_hdf5_members(dwd_dir: Path) -> None:
    path = dwd_dir / "brightsky/composite_rv_20250923_0855.tar"
    ds = read_sequence(path, allow_gaps=True)  # the shared sample keeps leads 0 and 50 only
    assert ds.sizes["time"] == 2
    leads = (ds["time"].values - ds["forecast_reference_time"].values) / np.timedelta64(1, "m")
    assert list(leads) == [0, 50]
    with tarfile.open(path) as archive:
        data = archive.extractfile("composite_rv_20250923_0855_050-hd5").read()
    raw, what, _ = raw_odim(data)
    assert what["gain"] == pytest.approx(0.001) and what["offset"] == pytest.approx(-0.001)
    check(ds.isel(time=[1]), raw, what, scale=12.0)  # mm per 5 min -> mm/h
    assert float(np.nanmin(ds["rainfall_rate"])) == 0.0  # raw 0 decodes to -0.001: clipped


def test_gap_in_rv_sample_is_refused_by_default(dwd_dir: Path) -> None:
    from radar.exceptions import SequenceError

    with pytest.raises(SequenceError, match="_050-hd5.*not consecutive"):
        read_sequence(dwd_dir / "brightsky/composite_rv_20250923_0855.tar")
