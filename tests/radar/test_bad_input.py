"""Bad input: one test each, one clear error each, no hang and no unbounded memory."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from radar.exceptions import FormatError, SequenceError, SizeLimitError
from radar.netcdf import write_netcdf
from radar.sequence import read_sequence
from radar.sources import MAX_FRAME_BYTES
from radar.synthetic import synthetic_sequence
from tests.helpers import radolan_bytes


def ry_frame(when: str, shape=(900, 900), product="RY") -> bytes:
    raw = np.zeros(shape, dtype=np.uint16)
    raw[100:110, 200:220] = 42
    return radolan_bytes(product, raw, when=when)


def test_truncated_radolan_file() -> None:
    data = ry_frame("2024-07-01T12:00")
    with pytest.raises(FormatError, match="cut.bin: truncated RADOLAN file"):
        read_sequence(_named(data[:-1000], "cut.bin"))


def test_truncated_real_gzip(dwd_dir: Path, tmp_path: Path) -> None:
    src = dwd_dir / "radolan_to_netcdf/radolan_ry/raa01-ry_10000-2001011500-dwd---bin.gz"
    cut = tmp_path / "cut-ry.gz"
    cut.write_bytes(src.read_bytes()[:4000])
    with pytest.raises(FormatError, match="cut-ry.gz: damaged or truncated compressed data"):
        read_sequence(cut)


def test_truncated_odim_file(dwd_dir: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.h5"
    cut.write_bytes((dwd_dir / "odim_ry/20250604_1630_RY.h5").read_bytes()[:50000])
    with pytest.raises(FormatError, match="cut.h5"):
        read_sequence(cut)


def test_wrong_magic_bytes(tmp_path: Path) -> None:
    bad = tmp_path / "picture.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    with pytest.raises(FormatError, match="picture.png: unknown format"):
        read_sequence(bad)


def test_damaged_radolan_header(tmp_path: Path) -> None:
    bad = tmp_path / "raa01-ry.bin"
    bad.write_bytes(b"RY0112" + bytes(5000))
    with pytest.raises(FormatError, match="RADOLAN"):
        read_sequence(bad)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress])
def test_decompression_bomb_is_capped(tmp_path: Path, compress) -> None:
    """400 MiB of zeros compress to a few hundred kB; reading stops at the frame limit."""
    bomb = tmp_path / "bomb.gz"
    chunk = compress(bytes(4 * 1024 * 1024))
    bomb.write_bytes(chunk * 100)  # concatenated members: 400 MiB when expanded
    assert bomb.stat().st_size < 50 * 1024 * 1024
    tracemalloc.start()
    with pytest.raises(SizeLimitError, match="bomb.gz: expands to more than 64 MiB"):
        read_sequence(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 3 * MAX_FRAME_BYTES


def test_tar_member_with_path_traversal(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    payload = ry_frame("2024-07-01T12:00")
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../../etc/raa01-ry")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(FormatError, match="unsafe path '../../etc/raa01-ry'"):
        read_sequence(archive)


def test_tar_member_that_is_a_link(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("frame")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(FormatError, match="link or device"):
        read_sequence(archive)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty.h5: empty file"):
        read_sequence(empty)


def test_empty_compressed_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(FormatError, match="empty.gz: empty"):
        read_sequence(empty)


def test_mixed_products() -> None:
    a = _named(ry_frame("2024-07-01T12:00"), "a-ry")
    b = _named(ry_frame("2024-07-01T12:05", product="RW"), "b-rw")
    with pytest.raises(SequenceError, match="b-rw: product RW differs from RY"):
        read_sequence([a, b])


def test_mixed_grids(dwd_dir: Path) -> None:
    binary = dwd_dir / "radolan_to_netcdf/radolan_ry/raa01-ry_10000-2001011500-dwd---bin.gz"
    odim = dwd_dir / "odim_ry/20250604_1630_RY.h5"
    with pytest.raises(
        SequenceError, match="20250604_1630_RY.h5: grid 1200x1100 differs from 900x900"
    ):
        read_sequence([binary, odim])


def test_non_consecutive_times() -> None:
    frames = [
        _named(ry_frame(t), f"f{t[-2:]}")
        for t in ("2024-07-01T12:00", "2024-07-01T12:05", "2024-07-01T12:15")
    ]
    with pytest.raises(SequenceError, match="f15: times are not consecutive: 10 min"):
        read_sequence(frames)
    assert read_sequence(frames, allow_gaps=True).sizes["time"] == 3


def test_duplicate_times() -> None:
    frames = [_named(ry_frame("2024-07-01T12:00"), n) for n in ("first", "second")]
    with pytest.raises(
        SequenceError, match="second: duplicate time 2024-07-01T12:00:00 \\(also in first\\)"
    ):
        read_sequence(frames)


def test_unsorted_frames_are_sorted() -> None:
    frames = [
        _named(ry_frame(t), t) for t in ("2024-07-01T12:10", "2024-07-01T12:00", "2024-07-01T12:05")
    ]
    ds = read_sequence(frames)
    assert [str(t)[11:16] for t in ds["time"].values] == ["12:00", "12:05", "12:10"]


def test_netcdf_without_rain_variable(tmp_path: Path) -> None:
    ds = synthetic_sequence(frames=2, height=8, width=8).rename(rainfall_rate="temperature")
    ds["temperature"].attrs["units"] = "K"
    path = tmp_path / "t.nc"
    ds.to_netcdf(path)
    with pytest.raises(FormatError, match="t.nc: variable temperature has unsupported units 'K'"):
        read_sequence(path)
    del ds["temperature"].attrs["standard_name"]
    ds.to_netcdf(path)
    with pytest.raises(FormatError, match="t.nc: no rain variable"):
        read_sequence(path)


def test_writer_refuses_non_canonical(tmp_path: Path) -> None:
    ds = synthetic_sequence(frames=2, height=8, width=8)
    ds["rainfall_rate"].attrs["units"] = "mm"
    with pytest.raises(ValueError, match="units"):
        write_netcdf(ds, tmp_path / "x.nc")


def _named(data: bytes, name: str):
    from radar.sources import Blob

    return Blob(name, data)
