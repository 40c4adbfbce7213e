"""Hostile input: a short, seeded fuzz of every reader (the long run is ``nowcast bench fuzz``),
and one regression test per reader bug that fuzzing found."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radar.exceptions import FormatError, SizeLimitError
from radar.fuzzing import SEEDS, SLOW_S, run_input, seed_bytes
from radar.fuzzing import mutate as hostile
from radar.headers import describe
from radar.netcdf import write_netcdf
from radar.sequence import read_frames, read_sequence
from radar.sources import MAX_CHUNKS, Blob, load
from radar.synthetic import synthetic_sequence

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def seeds(data_dir: Path) -> dict[str, tuple[str, bytes]]:
    return {fmt: seed_bytes(fmt, data_dir) for fmt in SEEDS}


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_mutated_samples_raise_only_documented_errors(fmt: str, seeds) -> None:
    """Mutations of the real sample (hypothesis drives the mutator's random choices, so a
    finding shrinks to a small edit): read fine or refused with a RadarError, in under a
    second; the first run of a format (imports, caches) is not timed."""
    name, data = seeds[fmt]
    run_input(name, data)

    @settings(max_examples=40, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.randoms(use_true_random=False))
    def check(rnd) -> None:
        mutation, data_ = hostile(data, rnd)
        # a hang is endless: the bound is wide because CI shares two cores with other work
        outcome = run_input(name, data_, hang_s=60.0)
        assert outcome.error is None, f"{mutation}: {type(outcome.error).__name__}: {outcome.error}"
        # generous: a loaded 2-core machine runs these several times slower than a quiet one
        assert outcome.seconds < 5 * SLOW_S, f"{mutation}: {outcome.seconds:.2f} s"

    check()


def read(data: bytes, name: str = "frame") -> None:
    read_sequence([Blob(name, data)])


# --- regressions: one per bug found by `nowcast bench fuzz` ---------------------------------


@pytest.mark.parametrize(
    "field, damaged, match",
    [
        # wradlib divided by the header's INT (ZeroDivisionError)
        pytest.param(b"INT  60", b"INT   0", "cannot decode", id="interval-of-zero"),
        # wradlib looks up the header's BY (data size) when it reads the data (KeyError)
        pytest.param(b"BY1620153", b"", "damaged RADOLAN", id="no-data-size"),
    ],
)
def test_radolan_with_a_damaged_header_field(seeds, field, damaged, match) -> None:
    name, data = seeds["radolan"]
    assert field in data[:200]
    with pytest.raises(FormatError, match=match):
        read(data.replace(field, damaged, 1), name)


def test_fmi_pgm_with_a_pixel_size_of_zero(seeds) -> None:
    """pixel_centres divided by metersperpixel (ZeroDivisionError)."""
    name, data = seeds["fmi-pgm"]
    head, sep, rest = data.partition(b"# metersperpixel_x ")
    value, newline, tail = rest.partition(b"\n")
    with pytest.raises(FormatError, match="pixel size"):
        read(head + sep + b"0" + newline + tail, name)


def test_hdf5_with_a_bad_metadata_checksum(seeds) -> None:
    """libhdf5 reports a damaged object header as RuntimeError from the first group lookup
    (the KNMI detector's), not as OSError."""
    name, data = seeds["odim"]
    damaged = None
    # flip bits inside the root group's object header until libhdf5 complains about checksums
    for position in range(48, 2048):
        trial = bytearray(data)
        trial[position] ^= 0x10
        try:
            with h5py.File(io.BytesIO(bytes(trial)), "r") as h5:
                "what" in h5  # noqa: B015 - the lookup is the test
        except RuntimeError:
            damaged = trial
            break
        except Exception:  # noqa: BLE001 - another complaint: try the next bit
            continue
    assert damaged is not None, "no bit of the first 2 KiB makes libhdf5 raise RuntimeError"
    with pytest.raises(FormatError):
        read(bytes(damaged), name)


def hdf5_with(data: bytes, edit) -> bytes:
    """``data`` (an HDF5 file) edited in memory by ``edit(h5)``."""
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as h5:
        edit(h5)
    return buf.getvalue()


def knmi_with(seeds, edit) -> bytes:
    return hdf5_with(seeds["knmi-hdf5"][1], edit)


def _replace_image(h5, **kwargs) -> None:
    del h5["image1"]["image_data"]
    h5["image1"].create_dataset("image_data", **kwargs)


def test_knmi_image_of_another_shape_is_refused_before_it_is_read(seeds) -> None:
    """A chunked 10^10-pixel image that was never written is a tiny file: it was read whole
    (MemoryError, or minutes of filling) before its shape was compared with the header's."""
    data = knmi_with(seeds, lambda h5: _replace_image(h5, shape=(100_000, 100_000),
                                                      dtype="u1", chunks=(1, 1024)))  # fmt: skip
    assert len(data) < 1_000_000
    with pytest.raises(FormatError, match="image is 100000x100000"):
        read(data, "huge.hf5")


def test_knmi_image_that_is_not_a_grid(seeds) -> None:
    """A one-dimensional image_data made the shape message itself fail (IndexError)."""
    data = knmi_with(seeds, lambda h5: _replace_image(h5, data=np.array([b"text"])))
    with pytest.raises(FormatError, match="image is 1,"):
        read(data, "text.hf5")


def test_netcdf_with_a_huge_unwritten_variable(tmp_path: Path) -> None:
    """A NetCDF whose rain is a huge chunked variable that was never written: refused from its
    size before xarray loads it."""
    ds = synthetic_sequence(frames=2, height=32, width=32)
    buf = io.BytesIO(write_netcdf(ds, None))
    with h5py.File(buf, "r+") as h5:
        h5.create_dataset("bomb", shape=(50_000, 50_000), dtype="f4", chunks=(1, 1024))
    with pytest.raises(SizeLimitError, match="values"):
        read(buf.getvalue(), "bomb.nc")


@pytest.mark.parametrize("value", [b"!-523462", b"nan", b"inf", b"0"])
def test_radolan_ascii_header_that_is_not_a_number(seeds, value: bytes) -> None:
    """The header's numbers were parsed with a bare float() (ValueError, OverflowError)."""
    name, data = seeds["radolan-ascii"]
    head, sep, rest = data.partition(b"nrows")
    number, newline, tail = rest.lstrip().partition(b"\n")
    with pytest.raises(FormatError, match="nrows|header"):
        read(head + sep + b" " + value + newline + tail, name)


@pytest.mark.parametrize("value", [b"\xff\xfe", b"", float("inf")])
def test_knmi_calibration_value_that_is_not_a_number(seeds, value) -> None:
    """calibration_out_of_image was converted with int(float(...)) outside the reader's
    error handling (ValueError on text, OverflowError on inf)."""

    def edit(h5) -> None:
        h5["image1/calibration"].attrs["calibration_out_of_image"] = value

    data = knmi_with(seeds, edit)
    if isinstance(value, float):
        read(data, "inf.hf5")  # no pixel equals inf: nothing is outside, and that is fine
    else:
        with pytest.raises(FormatError, match="not a number"):
            read(data, "text.hf5")


def test_gif_whose_header_promises_a_huge_screen(seeds) -> None:
    """PIL refuses only above 179 M pixels; below that pysteps made float64 copies of the
    whole screen (GBs for 12000 x 12000): the size is checked from the header first."""
    name, data = seeds["mch-gif"]
    size = (12000).to_bytes(2, "little")
    with pytest.raises(SizeLimitError, match="values"):
        read(data[:6] + size + size + data[10:], name)


def _gif_image_descriptor(data: bytes) -> int:
    """Offset of the first image descriptor (0x2C) of a GIF: after the screen descriptor, its
    colour table and any extension blocks."""
    pos = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[pos] == 0x21:  # extension: label, then sub-blocks up to an empty one
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    assert data[pos] == 0x2C
    return pos


def test_gif_whose_first_frame_is_larger_than_its_screen(seeds, monkeypatch) -> None:
    """The screen was checked, the frame's own descriptor not: PIL and pysteps decoded a frame
    of 33408 x 710 pixels (over a second) before its shape was found wrong. Now it is refused
    before pysteps is asked to decode anything."""
    import radar.mch

    name, data = seeds["mch-gif"]
    pos = _gif_image_descriptor(data)
    assert data[pos + 5 : pos + 9] == (710).to_bytes(2, "little") + (640).to_bytes(2, "little")
    edited = data[: pos + 7] + (33408).to_bytes(2, "little") + data[pos + 9 :]

    def no_decoding(*args, **kwargs):
        raise AssertionError("pysteps was asked to decode the frame")

    monkeypatch.setattr(radar.mch, "run_importer", no_decoding)
    with pytest.raises(FormatError, match="33408x710 pixels does not fit"):
        read(edited, name)


@pytest.mark.parametrize(
    ("header", "error", "match"),
    [
        (b"\n99999 99999\n255\n", SizeLimitError, "values"),
        # PIL decoded any maximum but 255 pixel by pixel in Python (1.4 s; the fuzz found it)
        (b"\n760 1226\n  1\n", FormatError, "maximum value 1"),
        (b"\n760 1226\n001\n", FormatError, "maximum value 1"),
    ],
    ids=["huge-size", "maxval-1", "maxval-001"],
)
def test_pgm_whose_header_promises_a_huge_or_slow_image(seeds, header, error, match) -> None:
    name, data = seeds["fmi-pgm"]
    assert b"\n760 1226\n255\n" in data[:4096]
    with pytest.raises(error, match=match):
        read(data.replace(b"\n760 1226\n255\n", header, 1), name)


def netcdf_with(edit) -> bytes:
    buf = io.BytesIO(write_netcdf(synthetic_sequence(frames=2, height=32, width=32), None))
    with h5py.File(buf, "r+") as h5:
        edit(h5)
    return buf.getvalue()


@pytest.mark.parametrize("value", [7, b"\xff\xfe"])
def test_netcdf_grid_mapping_that_is_not_text(value) -> None:
    """pyproj raised TypeError on a number and UnicodeEncodeError on surrogates in crs_wkt."""

    def edit(h5) -> None:
        for obj in h5.values():
            if "crs_wkt" in obj.attrs:
                obj.attrs["crs_wkt"] = value

    with pytest.raises(FormatError, match="grid mapping"):
        read(netcdf_with(edit), "crs.nc")


def test_netcdf_with_a_million_times_is_refused_before_they_are_decoded() -> None:
    """The gateway's header read decoded every time value first (seconds for a million)."""
    import pandas as pd
    import xarray as xr

    times = pd.date_range("2024-07-01", periods=1_000_000, freq="s")
    ds = xr.Dataset(
        {"rainfall_rate": (("time", "y", "x"), np.zeros((len(times), 1, 1), "f4"),
                           {"units": "mm/h"})},
        coords={"time": times, "y": [0.0], "x": [0.0]},
        attrs={"Conventions": "CF-1.8"},
    )  # fmt: skip
    data = ds.to_netcdf(engine="h5netcdf")
    with pytest.raises(SizeLimitError, match="frames"):
        describe(Blob("times.nc", bytes(data)))


def upload_path(name: str, data: bytes) -> None:
    """What :func:`radar.fuzzing.run_input` runs, without catching: the gateway's header read
    and the worker's decode."""
    blobs = load(Blob(name, data))
    for blob in blobs:
        describe(blob)
    read_frames(blobs)


def _set(path: str, key: str | None, value):
    """An edit: attribute ``key`` of ``path`` set to ``value`` (deleted for None), or the
    dataset's value itself when ``key`` is None."""

    def edit(h5) -> None:
        if key is None:
            h5[path][()] = value
        elif value is None:
            del h5[path].attrs[key]
        else:
            h5[path].attrs[key] = value

    return edit


@pytest.mark.parametrize(
    ("fmt", "edit", "match"),
    [
        # pyproj raised ValueError on a parameter as text, KeyError on a missing one
        ("bom-rf3", _set("proj", "standard_parallel", "x" * 300), "grid mapping"),
        ("bom-rf3", _set("proj", "standard_parallel", "2021-13-45T99:99"), "grid mapping"),
        ("bom-rf3", _set("proj", "standard_parallel", None), "grid mapping.*standard_parallel"),
        # seconds past pandas' range: OutOfBoundsTimedelta
        ("bom-rf3", _set("valid_time", None, -(2**62)), "time out of range"),
        ("bom-rf3", _set("start_time", None, 2**62), "time out of range"),
        # an infinite size: OverflowError from int() in the gateway's header read
        ("odim", _set("where", "xsize", float("inf")), "ODIM_H5 metadata"),
        # round() of an infinite or NaN grid offset or pixel size (OverflowError, ValueError)
        ("knmi-hdf5", _set("geographic", "geo_row_offset", float("inf")), "must be finite"),
        ("knmi-hdf5", _set("geographic", "geo_column_offset", float("nan")), "must be finite"),
        ("knmi-hdf5", _set("geographic", "geo_pixel_size_x", float("nan")), "must be finite"),
    ],
    ids=["bom-parallel-text", "bom-parallel-date", "bom-parallel-missing",
         "bom-valid-time-huge", "bom-start-time-huge", "odim-size-inf",
         "knmi-offset-inf", "knmi-offset-nan", "knmi-size-nan"],
)  # fmt: skip
def test_hostile_metadata_is_refused(seeds, fmt: str, edit, match: str) -> None:
    name, data = seeds[fmt]
    with pytest.raises(FormatError, match=match):
        upload_path(name, hdf5_with(data, edit))


def _chunky(path: str, shape: tuple[int, int]):
    """An edit: dataset ``path`` replaced by one of ``shape`` in one-value chunks that were
    never written (a small file, under the values limit; libhdf5 reads every chunk on its
    own), on the old one's dimensions where the sizes agree."""

    def edit(h5) -> None:
        old = h5[path]
        scales = [dim[0] if len(dim) else None for dim in old.dims]
        del h5[path]
        new = h5.create_dataset(path, shape=shape, dtype="f8", chunks=(1, 1))
        for axis, scale in enumerate(scales):
            if scale is not None and scale.shape == (shape[axis],):
                new.dims[axis].attach_scale(scale)

    return edit


@pytest.mark.parametrize(
    ("fmt", "path", "shape"), [("bom-rf3", "y_bounds", (2**20, 1)), ("netcdf", "lat", (900, 900))]
)
def test_millions_of_chunks_are_refused_before_they_are_read(seeds, fmt, path, shape) -> None:
    """BoM files whose ``y_bounds`` (or ``precipitation``) was a million chunks took 3-20 s of
    CPU each (fuzzing); the generic NetCDF reader loads every variable the same way."""
    name, data = seeds[fmt]
    edited = hdf5_with(data, _chunky(path, shape))
    assert len(edited) < len(data) + 2**20
    with pytest.raises(SizeLimitError, match=f"chunks.*limit {MAX_CHUNKS}"):
        upload_path(name, edited)


def test_grid_mapping_without_a_prime_meridian_is_not_looked_up(seeds, monkeypatch) -> None:
    """A CF grid mapping names no prime meridian (BoM's do not): pyproj then looked
    "Greenwich" up by name in its database, 0.3 s of CPU for each read of a BoM file (a tar of
    two frames, read by the gateway and the worker, took over a second)."""
    import pyproj.crs.datum

    looked_up: list[str] = []
    real = pyproj.crs.datum.PrimeMeridian

    class Spy:
        @staticmethod
        def from_user_input(value):
            if isinstance(value, str):
                looked_up.append(value)
            return real.from_user_input(value)

    monkeypatch.setattr(pyproj.crs.datum, "PrimeMeridian", Spy)
    ds = read_sequence([Blob(*seeds["bom-rf3"])])
    assert looked_up == []
    crs = pyproj.CRS.from_wkt(ds["crs"].attrs["crs_wkt"])
    assert crs.prime_meridian.longitude == 0.0
    assert crs.coordinate_operation.method_name == "Albers Equal Area"


def test_report_counts_and_percentiles() -> None:
    """The benchmark's per-format figures: p99 by nearest rank over every input's time."""
    from radar.fuzzing import Outcome, Report, record

    report = Report("x")
    for i in range(1, 201):  # 0.01 .. 2.00 s; one escape, one refusal
        error = KeyError("k") if i == 7 else None
        record(report, Outcome("m", i / 100, error, "FormatError" if i == 8 else None))
    assert (report.inputs, report.accepted, dict(report.refused)) == (200, 198, {"FormatError": 1})
    assert dict(report.escaped) == {"KeyError": 1}
    assert report.percentile_s(99) == 1.98
    assert report.percentile_s(50) == 1.0
    assert (report.slowest_s, report.slow) == (2.0, 100)
