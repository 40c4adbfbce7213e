"""RADOLAN binary: every sample in ../shared/data is read and checked against an independent
numpy decoding of the same bytes (REFERENCE.md §6), never against the reader itself."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from radar.exceptions import FormatError
from radar.radolan import read_radolan
from radar.sequence import read_sequence
from radar.sources import Blob
from radar.transforms import NO_RAIN_DBZ, dbz_to_rain
from tests.helpers import parse_radolan, radolan_bytes, raw_bytes

RAIN = {"RY", "RW", "RV", "YW", "RQ", "RZ", "RH", "RB", "RL", "RU", "EZ", "EH", "EB", "EW", "EY"}
DBZ = {"RX", "WX", "EX"}
SHAPES = {
    "RY": (900, 900),
    "RW": (900, 900),
    "RX": (900, 900),
    "WX": (1100, 900),
    "EX": (1500, 1400),
    "RV": (1200, 1100),
    "YW": (1100, 900),
}


def radolan_files(dwd: Path) -> list[Path]:
    files = []
    for sub in ("radolan_to_netcdf", "wradlib-data/radolan", "radolan-guide/misc"):
        for path in sorted((dwd / sub).rglob("*")):
            if path.is_file() and not path.name.endswith((".tar.gz", ".md", ".asc")):
                files.append(path)
    return files


def expected_rain(info: dict, raw: np.ndarray) -> np.ndarray:
    """Decode stored raw values to mm/h (stored order), from the format description alone."""
    if info["product"] in DBZ:
        dbz = raw.astype(np.float64) / 2 - 32.5
        rain = np.where(dbz < NO_RAIN_DBZ, 0.0, dbz_to_rain(dbz))
        return np.where(np.isin(raw, (249, 250)), np.nan, rain)
    value = (raw & 0x0FFF) * info["precision"] * 60.0 / info["interval_min"]
    flagged = (raw & 0x2000) | (raw & 0x8000)
    return np.where(flagged != 0, np.nan, value)


def check_against_raw(ds, data: bytes) -> None:
    info, raw = parse_radolan(data)
    ours = ds["rainfall_rate"].values[0]
    assert ours.shape == (info["rows"], info["cols"])
    want = expected_rain(info, raw)[::-1]  # stored row 0 is the southern edge
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(want))
    step = (info["precision"] or 0.5) * 60.0 / (info["interval_min"] or 5)
    np.testing.assert_allclose(ours, want, atol=step * 1e-3 + 1e-4, rtol=1e-4, equal_nan=True)
    if np.isfinite(want).any():
        assert np.nanmax(ours) == pytest.approx(np.nanmax(want), rel=1e-5)
    assert ds["rainfall_rate"].attrs["units"] == "mm h-1"
    assert ds["y"].values[0] > ds["y"].values[-1], "north-up: y must descend"
    if info["product"] not in DBZ:
        assert ds.attrs["radolan_precision"] == pytest.approx(info["precision"])


def test_every_radolan_sample(dwd_dir: Path) -> None:
    files = radolan_files(dwd_dir)
    assert len(files) >= 60, "the shared samples seem incomplete"
    read = refused = 0
    for path in files:
        data = raw_bytes(path)
        product = data[:2].decode("ascii", "replace")
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                names = archive.getnames()
                first = archive.extractfile(names[0]).read()
            ds = read_sequence(path)
            assert ds.sizes["time"] == len(names) == 25
            check_against_raw(ds.isel(time=[0]), first)
            read += 1
        elif product in RAIN | DBZ:
            ds = read_sequence(path)
            check_against_raw(ds, data)
            assert ds.attrs["source_product"] == product
            if product in SHAPES:
                assert ds["rainfall_rate"].shape[1:] == SHAPES[product]
            read += 1
        else:
            with pytest.raises(FormatError, match=path.name):
                read_sequence(path)
            refused += 1
    assert read >= 50 and refused >= 10


def test_ry_sequence_of_13(dwd_dir: Path) -> None:
    files = sorted((dwd_dir / "radolan_to_netcdf/radolan_ry").glob("*.gz"))
    ds = read_sequence(files)
    assert ds.sizes["time"] == 13
    steps = np.diff(ds["time"].values) / np.timedelta64(1, "m")
    assert (steps == 5).all()
    assert str(ds["time"].values[0]).startswith("2020-01-01T15:00")
    assert ds.attrs["attribution"] == "Quelle: Deutscher Wetterdienst"
    for path, frame in zip(files, range(13), strict=True):
        check_against_raw(ds.isel(time=[frame]), raw_bytes(path))


def test_rx_keeps_dbz_on_request(dwd_dir: Path) -> None:
    path = dwd_dir / "wradlib-data/radolan/showcase/raa01-rx_10000-1408102050-dwd---bin.gz"
    info, raw = parse_radolan(raw_bytes(path))
    ds = read_sequence(path, keep_dbz=True)
    dbz = ds["reflectivity"].values[0][::-1]
    want = np.where(np.isin(raw, (249, 250)), np.nan, raw / 2 - 32.5)
    np.testing.assert_allclose(dbz, want, equal_nan=True)
    assert ds.attrs["zr_a"] == 256.0 and ds.attrs["zr_b"] == 1.42


def test_radvor_rv_archive_is_a_forecast(dwd_dir: Path) -> None:
    path = dwd_dir / "dwd_utils/DE1200_RV2506151820.tar.bz2"
    ds = read_sequence(path)
    assert ds.sizes["time"] == 25 and ds["rainfall_rate"].shape[1:] == (1200, 1100)
    ref = ds["forecast_reference_time"].values
    assert str(ref).startswith("2025-06-15T18:20")
    leads = (ds["time"].values - ref) / np.timedelta64(1, "m")
    assert list(leads) == list(range(0, 121, 5))
    with tarfile.open(path) as archive:
        member = archive.getmember("DE1200_RV2506151820_060")
        data = archive.extractfile(member).read()
    check_against_raw(ds.isel(time=[12]), data)


def test_single_rv_member(dwd_dir: Path) -> None:
    with tarfile.open(dwd_dir / "dwd_utils/DE1200_RV2506151820.tar.bz2") as archive:
        data = archive.extractfile("DE1200_RV2506151820_015").read()
    ds = read_radolan(Blob("DE1200_RV2506151820_015", data))
    assert str(ds["time"].values[0]).startswith("2025-06-15T18:35")
    check_against_raw(ds, data)


def test_yw_on_the_extended_grid() -> None:
    """No YW sample is shared; a generated one checks grid, flags and the 5-minute scaling."""
    raw = np.zeros((1100, 900), dtype=np.uint16)
    raw[0, 0] = 150  # 1.50 mm in 5 min at the south-west corner -> 18 mm/h
    raw[1099, 899] = 0x2000  # no data, value bits empty
    raw[500, 400] = 0x8000 | 7  # clutter
    data = radolan_bytes("YW", raw)
    ds = read_radolan(Blob("yw", data))
    rain = ds["rainfall_rate"].values[0]
    assert rain.shape == (1100, 900)
    assert rain[-1, 0] == pytest.approx(18.0)  # south-west is the last row once north-up
    assert np.isnan(rain[0, -1]) and np.isnan(rain[1099 - 500, 400])
    assert np.isnan(rain).sum() == 2
    check_against_raw(ds, data)
