"""RADOLAN ASCII grids (the 24-hour RW archive) and the single-site DX samples."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from radar.exceptions import FormatError
from radar.sequence import read_sequence


def test_ascii_rw_archive(dwd_dir: Path) -> None:
    path = dwd_dir / "wradlib-data/radolan/asc/RW-20221018.tar.gz"
    ds = read_sequence(path)
    assert ds.sizes["time"] == 24 and ds["rainfall_rate"].shape[1:] == (900, 900)
    assert (np.diff(ds["time"].values) / np.timedelta64(1, "m") == 60).all()
    with tarfile.open(path) as archive:
        text = archive.extractfile("RW_20221018-1250.asc").read().decode()
    values = np.array(text.split("\n", 6)[6].split(), dtype=float).reshape(900, 900)
    want = np.where(values == -1, np.nan, values * 0.1)  # 0.1 mm per hour, first row north
    np.testing.assert_allclose(ds["rainfall_rate"].values[12], want, rtol=1e-6, equal_nan=True)


def test_ascii_grid_matches_binary_grid_and_orientation(dwd_dir: Path) -> None:
    ascii_rw = read_sequence(dwd_dir / "wradlib-data/radolan/asc/RW-20221018.tar.gz")
    binary_rw = read_sequence(
        dwd_dir / "radolan_to_netcdf/radolan_rw/raa01-rw_10000-1811220050-dwd---bin.gz"
    )
    np.testing.assert_allclose(ascii_rw["x"].values, binary_rw["x"].values, atol=1.0)
    np.testing.assert_allclose(ascii_rw["y"].values, binary_rw["y"].values, atol=1.0)
    # The radar coverage (no-data outside) is a physical shape: it must line up, not mirror.
    a = np.isnan(ascii_rw["rainfall_rate"].values[0])
    b = np.isnan(binary_rw["rainfall_rate"].values[0])
    same = (a == b).mean()
    mirrored = (a[::-1] == b).mean()
    assert same > 0.95 and same > mirrored + 0.05


def test_ascii_needs_its_file_name(dwd_dir: Path) -> None:
    with tarfile.open(dwd_dir / "wradlib-data/radolan/asc/RW-20221018.tar.gz") as archive:
        data = archive.extractfile("RW_20221018-0050.asc").read()
    with pytest.raises(FormatError, match="needs its DWD file name"):
        read_sequence(data)


@pytest.mark.parametrize("name", ["sample.dx.gz", "raa00-dx_10908-0806021655-fbg---bin.gz"])
def test_single_site_dx_is_refused_clearly(dwd_dir: Path, name: str) -> None:
    with pytest.raises(FormatError, match="single-radar polar data \\(DX\\) are not supported"):
        read_sequence(dwd_dir / "wradlib-data/dx" / name)
