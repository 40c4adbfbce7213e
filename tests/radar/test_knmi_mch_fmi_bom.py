"""Non-DWD archives (KNMI, MeteoSwiss, FMI, BoM): every reader is checked against an independent
decoding of the same file (h5py, PIL, numpy, netCDF4 and the formats' published scales), never
against the reader itself, and consecutive files are combined into one sequence."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import radar.interface
from radar.bom import read_bom_rf3
from radar.canonical import cadence_minutes, check_sequence
from radar.exceptions import FormatError, MissingOptionalDependency
from radar.fmi import read_fmi_pgm
from radar.grids import latlon, locate
from radar.knmi import read_knmi_hdf5
from radar.mch import read_mch_gif
from radar.netcdf import write_netcdf
from radar.sequence import combine, read_sequence
from radar.sources import Blob, load
from radar.synthetic import synthetic_sequence
from radar.transforms import NO_RAIN_DBZ
from tests.conftest import REPO

KNMI_RAP = "pysteps-data/radar/KNMI/2010/08"
KNMI_NA = "knmi_pcp_na/public_train_raw/2021-01-01-2005"
MCH = "pysteps-data/radar/mch"
FMI = "pysteps-data/radar/fmi/pgm/20160928"
BOM_CSCN = "pysteps-data/radar/bom/prcp-cscn/2/2018/06/16"
BOM_C10 = "pysteps-data/radar/bom/prcp-c10/66/2020/10/31"


def files(data_dir: Path, folder: str, pattern: str, count: int | None = None) -> list[Path]:
    found = sorted((data_dir / folder).glob(pattern))
    if not found:
        pytest.skip(f"no {pattern} samples in {data_dir / folder}")
    return found[:count] if count else found


@pytest.fixture(scope="module")
def pysteps_present() -> None:
    pytest.importorskip("pysteps", reason="the MeteoSwiss and FMI readers need pysteps")


def read_one(reader, path: Path, **kwargs):
    (blob,) = load(path)  # decompresses .gz as read_sequence would
    return check_sequence(reader(blob, **kwargs))


def read_many(reader, paths: list[Path]):
    frames = []
    for path in paths:
        (blob,) = load(path)
        frames.append((blob.name, reader(blob)))
    return check_sequence(combine(frames))


def zr_rain(dbz: np.ndarray) -> np.ndarray:
    """Z = 256 R^1.42 in float64, echoes below NO_RAIN_DBZ as no rain, NaN kept."""
    dbz = np.asarray(dbz, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        rain = (10.0 ** (dbz / 10.0) / 256.0) ** (1.0 / 1.42)
        rain = np.where(dbz < NO_RAIN_DBZ, 0.0, rain)
    return np.where(np.isnan(dbz), np.nan, rain)


def assert_rain(ds, want: np.ndarray) -> None:
    ours = ds["rainfall_rate"].values[0]
    assert ours.dtype == np.float32 and ours.shape == want.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(want))
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert ds["rainfall_rate"].attrs["units"] == "mm h-1"
    assert ds["y"].values[0] > ds["y"].values[-1], "north-up: y must descend"


def assert_cadence(ds, minutes: float, count: int) -> None:
    assert ds.sizes["time"] == count
    steps = np.diff(ds["time"].values) / np.timedelta64(1, "m")
    assert (steps == minutes).all(), steps
    assert cadence_minutes(ds) == minutes
    assert ds.attrs["accutime_minutes"] == minutes


def corners(ds) -> dict[str, tuple[float, float]]:
    """(lat, lon) of the corner pixel centres."""
    lat, lon = latlon(ds.isel(x=[0, -1], y=[0, -1]))
    return {
        "upper_left": (lat[0, 0], lon[0, 0]),
        "upper_right": (lat[0, 1], lon[0, 1]),
        "lower_left": (lat[1, 0], lon[1, 0]),
        "lower_right": (lat[1, 1], lon[1, 1]),
    }


def assert_inside(ds, lat_range: tuple[float, float], lon_range: tuple[float, float]) -> None:
    lat, lon = latlon(ds)
    assert lat_range[0] < lat.min() and lat.max() < lat_range[1], (lat.min(), lat.max())
    assert lon_range[0] < lon.min() and lon.max() < lon_range[1], (lon.min(), lon.max())
    assert lat[0].mean() > lat[-1].mean(), "north-up: the first row is the northern edge"


# ---------------------------------------------------------------------------------------- KNMI


def knmi_raw(path: Path) -> tuple[np.ndarray, dict]:
    with h5py.File(path, "r") as h5:
        raw = h5["image1/image_data"][()]
        corners = h5["geographic"].attrs["geo_product_corners"].reshape(4, 2)
    return raw, {"corners": corners}  # (lon, lat): lower-left, upper-left, upper-right, lower-r.


def test_knmi_rap_accumulation_sequence(data_dir: Path) -> None:
    paths = files(data_dir, KNMI_RAP, "RAD_NL25_RAP_5min_*.h5", 24)
    ds = read_many(read_knmi_hdf5, paths)
    assert_cadence(ds, 5.0, 24)
    names = [re.search(r"(\d{12})\.h5$", p.name)[1] for p in paths]
    assert list(ds["time"].values) == list(pd.to_datetime(names, format="%Y%m%d%H%M").values)
    assert ds["rainfall_rate"].shape == (24, 765, 700)
    for i in (0, 11, 23):
        raw, _ = knmi_raw(paths[i])
        # ACRR in 0.01 mm per 5 min (GEO = 0.01 PV), 65535 outside the coverage
        want = np.where(raw == 65535, np.nan, raw * 0.01 * 12.0)
        assert_rain(ds.isel(time=[i]), want)
        assert int(np.isnan(ds["rainfall_rate"].values[i]).sum()) == int((raw == 65535).sum())
    assert ds.attrs["attribution"] == "Source: KNMI"
    assert ds.attrs["source_format"] == "knmi-hdf5"


def test_knmi_pcp_na_reflectivity_evening(data_dir: Path) -> None:
    paths = files(data_dir, KNMI_NA, "*.hf5")
    assert len(paths) == 36
    ds = read_many(read_knmi_hdf5, paths)
    assert_cadence(ds, 5.0, 36)
    assert str(ds["time"].values[0]).startswith("2021-01-01T20:05")
    assert str(ds["time"].values[-1]).startswith("2021-01-01T23:00")
    for i in (0, 35):
        raw, _ = knmi_raw(paths[i])
        # dBZ = 0.5 PV - 32; PV 0 no echo (no rain), PV 255 outside the coverage
        dbz = np.where(raw == 255, np.nan, 0.5 * raw.astype(np.float64) - 32.0)
        want = np.where(raw == 0, 0.0, zr_rain(dbz))
        assert_rain(ds.isel(time=[i]), want)
        assert int(np.isnan(ds["rainfall_rate"].values[i]).sum()) == int((raw == 255).sum())
    assert ds.attrs["zr_a"] == 256.0 and ds.attrs["zr_b"] == 1.42
    assert np.nanmax(ds["rainfall_rate"].values) > 1.0  # it rained that evening


def test_knmi_keeps_dbz_and_grid_matches_corners(data_dir: Path) -> None:
    path = files(data_dir, KNMI_NA, "*.hf5", 1)[0]
    ds = read_one(read_knmi_hdf5, path, keep_dbz=True)
    raw, info = knmi_raw(path)
    want = np.where(raw == 255, np.nan, 0.5 * raw.astype(np.float64) - 32.0)
    np.testing.assert_allclose(ds["reflectivity"].values[0], want, equal_nan=True)
    assert_inside(ds, (48.8, 56.1), (-0.1, 11.0))  # the Netherlands and surroundings
    # the file's own lon/lat of the image's outer corners, half a pixel (< 0.02 deg) away
    c = corners(ds)
    lon_lat = info["corners"]
    for key, (lon, lat) in zip(
        ("lower_left", "upper_left", "upper_right", "lower_right"), lon_lat, strict=True
    ):
        assert c[key][0] == pytest.approx(lat, abs=0.02), key
        assert c[key][1] == pytest.approx(lon, abs=0.02), key
    # the 2010 RAP files and the 2021 PCP_NA files share one 1 km grid
    rap = read_one(read_knmi_hdf5, files(data_dir, KNMI_RAP, "*.h5", 1)[0])
    np.testing.assert_array_equal(rap["x"].values, ds["x"].values)
    np.testing.assert_array_equal(rap["y"].values, ds["y"].values)
    assert np.diff(ds["x"].values) == pytest.approx(1000.0)


# ----------------------------------------------------------------------------------- MeteoSwiss


def mch_rain(path: Path) -> np.ndarray:
    """pysteps' documented AQC scale: DN -> mm per 5 min; 0, 1, 251-254 dry; 255 outside."""
    from PIL import Image

    dn = np.array(Image.open(path)).astype(np.float64)
    mm = (10.0 ** ((dn - 71.5) / 20.0) / 316.0) ** (1.0 / 1.5)
    mm = np.where((dn < 2) | ((dn > 250) & (dn < 255)), 0.0, mm)
    return np.where(dn == 255, np.nan, mm * 12.0)


def test_mch_gif_sequence_across_product_versions(data_dir: Path, pysteps_present) -> None:
    # 2017-01-31 switches from ...F_ to ...V_ files at 11:50; one product, 5-minute steps
    paths = files(data_dir, f"{MCH}/20170131", "AQC*.gif")[20:32]
    assert {p.name[12] for p in paths} == {"F", "V"}
    ds = read_many(read_mch_gif, paths)
    assert_cadence(ds, 5.0, 12)
    assert ds["rainfall_rate"].shape == (12, 640, 710)
    # AQC yy jjj hhmm: 2017, day 31 = 31 January, 11:25 UTC
    assert str(ds["time"].values[0]).startswith("2017-01-31T11:25")
    for i in (0, 6, 11):
        assert_rain(ds.isel(time=[i]), mch_rain(paths[i]))
    assert ds.attrs["source_product"] == "AQC" and ds.attrs["attribution"] == "MeteoSwiss"


def test_mch_gif_values_and_swiss_grid(data_dir: Path, pysteps_present) -> None:
    path = files(data_dir, f"{MCH}/20150515", "AQC*.gif", 1)[0]
    ds = read_one(read_mch_gif, path)
    want = mch_rain(path)
    assert_rain(ds, want)
    assert int(np.isnan(ds["rainfall_rate"].values).sum()) == int(np.isnan(want).sum()) > 0
    assert str(ds["time"].values[0]).startswith("2015-05-15T15:45")
    assert_inside(ds, (43.0, 50.0), (2.5, 13.0))
    # Bern's old observatory is the origin of LV03: (600 km, 200 km)
    row, col = locate(ds, 46.9510811, 7.4386372)
    assert ds["x"].values[col] == pytest.approx(600_000, abs=600)
    assert ds["y"].values[row] == pytest.approx(200_000, abs=600)


def test_mch_time_from_the_name_when_the_comment_is_gone(data_dir: Path, pysteps_present) -> None:
    path = files(data_dir, f"{MCH}/20160711", "AQC*.gif", 1)[0]
    data = path.read_bytes()
    stripped = data.replace(b"PRDT=", b"XXXX=").replace(b"ACCUm=", b"XXXXX=")
    ds = read_mch_gif(Blob(path.name, stripped))
    assert str(ds["time"].values[0]).startswith("2016-07-11T20:45")  # 16 193 2045
    assert detect_foreign(stripped.replace(b"Meteoswiss", b"elsewhere"), "x.gif") is None
    with pytest.raises(FormatError, match="frame.gif"):
        read_mch_gif(Blob("frame.gif", stripped))


# ------------------------------------------------------------------------------------------ FMI


def fmi_raw(path: Path) -> tuple[np.ndarray, dict]:
    """Parse the PGM by hand: comments, width height, maxval, then uint8 rows (north first)."""
    data = gzip.decompress(path.read_bytes())
    header, pos, fields = {}, 0, []
    lines = data.split(b"\n")
    for line in lines:
        pos += len(line) + 1
        if line.startswith(b"#"):
            key, *value = line[1:].decode().split()
            header[key] = value
        elif line.strip() and line != b"P5":
            fields += line.split()
            if len(fields) == 3:
                break
    cols, rows, maxval = (int(v) for v in fields)
    raw = np.frombuffer(data, dtype=np.uint8, count=rows * cols, offset=pos).reshape(rows, cols)
    return raw, {**header, "maxval": maxval}


def test_fmi_pgm_sequence(data_dir: Path, pysteps_present) -> None:
    paths = files(data_dir, FMI, "*.pgm.gz", 12)
    ds = read_many(read_fmi_pgm, paths)
    assert_cadence(ds, 5.0, 12)
    assert ds["rainfall_rate"].shape == (12, 1226, 760)
    for i in (0, 11):
        raw, header = fmi_raw(paths[i])
        assert str(ds["time"].values[i]).startswith(
            pd.to_datetime(header["obstime"][0], format="%Y%m%d%H%M").isoformat()[:16]
        )
        # dBZ = (PV - 64) / 2, the maximum value 255 outside the coverage
        dbz = np.where(raw == header["maxval"], np.nan, (raw.astype(np.float64) - 64.0) / 2.0)
        assert_rain(ds.isel(time=[i]), zr_rain(dbz))
        assert int(np.isnan(ds["rainfall_rate"].values[i]).sum()) == int((raw == 255).sum())
    assert ds.attrs["attribution"] == "FMI" and ds.attrs["source_units"] == "dBZ"


def test_fmi_grid_matches_header_corners(data_dir: Path, pysteps_present) -> None:
    path = files(data_dir, FMI, "*.pgm.gz", 1)[0]
    # straight from the gzipped bytes, and keeping dBZ
    ds = check_sequence(read_fmi_pgm(Blob(path.name, path.read_bytes()), keep_dbz=True))
    raw, header = fmi_raw(path)
    np.testing.assert_allclose(
        ds["reflectivity"].values[0],
        np.where(raw == 255, np.nan, (raw - 64.0) / 2.0),
        equal_nan=True,
    )
    c = corners(ds)
    bl_lon, bl_lat = (float(v) for v in header["bottomleft"])
    tr_lon, tr_lat = (float(v) for v in header["topright"])
    assert c["lower_left"][0] == pytest.approx(bl_lat, abs=0.02)
    assert c["lower_left"][1] == pytest.approx(bl_lon, abs=0.03)
    assert c["upper_right"][0] == pytest.approx(tr_lat, abs=0.02)
    assert c["upper_right"][1] == pytest.approx(tr_lon, abs=0.03)
    assert_inside(ds, (57.5, 70.5), (14.0, 36.0))  # Finland and its neighbours
    assert abs(np.diff(ds["x"].values)[0]) == pytest.approx(float(header["metersperpixel_x"][0]))


# ------------------------------------------------------------------------------------------ BoM


def bom_raw(path: Path) -> tuple[np.ndarray, dict]:
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        var = nc["precipitation"]
        packed = var[:]
        fill = var.getncattr("_FillValue")
        mm = np.where(packed == fill, np.nan, packed * float(var.getncattr("scale_factor")))
        info = {
            "minutes": (int(nc["valid_time"][()]) - int(nc["start_time"][()])) / 60,
            "valid": pd.Timestamp(int(nc["valid_time"][()]), unit="s"),
            "fill": int((packed == fill).sum()),
            "licence": nc.getncattr("licence"),
            "origin": (
                float(nc["proj"].getncattr("latitude_of_projection_origin")),
                float(nc["proj"].getncattr("longitude_of_central_meridian")),
            ),
        }
    return mm, info


@pytest.mark.parametrize(
    "folder, minutes, station",
    [
        (BOM_CSCN, 6.0, (-37.855, 144.755)),  # Melbourne (Laverton), radar 2
        (BOM_C10, 10.0, (-27.718, 153.240)),  # Brisbane (Mt Stapylton), radar 66
    ],
)
def test_bom_rf3_sequences(data_dir: Path, folder: str, minutes: float, station) -> None:
    paths = files(data_dir, folder, "*.nc", 10)
    ds = read_many(read_bom_rf3, paths)
    assert_cadence(ds, minutes, 10)
    assert ds["rainfall_rate"].shape == (10, 512, 512)
    for i in (0, 9):
        mm, info = bom_raw(paths[i])
        assert info["minutes"] == minutes
        assert ds["time"].values[i] == info["valid"].to_datetime64()
        assert_rain(ds.isel(time=[i]), mm * 60.0 / minutes)
        assert int(np.isnan(ds["rainfall_rate"].values[i]).sum()) == info["fill"]
    assert ds.attrs["attribution"] == "Bureau of Meteorology"
    assert ds.attrs["source_licence"] == info["licence"]
    assert ds.attrs["source_product"] == paths[0].name.split(".")[-2]
    # 256 km x 256 km at 500 m centred on the radar (the projection's origin)
    x, y = ds["x"].values, ds["y"].values
    assert x[0] == pytest.approx(-127_750) and x[-1] == pytest.approx(127_750)
    assert y[0] == pytest.approx(127_750) and y[-1] == pytest.approx(-127_750)
    lat, lon = latlon(ds.isel(x=[255, 256], y=[255, 256]))
    assert float(lat.mean()) == pytest.approx(info["origin"][0], abs=1e-3)
    assert float(lon.mean()) == pytest.approx(info["origin"][1], abs=1e-3)
    assert float(lat.mean()) == pytest.approx(station[0], abs=0.02)
    assert float(lon.mean()) == pytest.approx(station[1], abs=0.02)
    assert_inside(ds, (-44.0, -10.0), (112.0, 156.0))  # Australia and its coastal waters


def test_generic_netcdf_reader_cannot_read_bom(data_dir: Path) -> None:
    """Why bom-rf3 exists: no time dimension, x/y in km."""
    path = files(data_dir, BOM_CSCN, "*.nc", 1)[0]
    with pytest.raises(FormatError):
        radar.interface.get_reader("netcdf")(Blob(path.name, path.read_bytes()))


# ------------------------------------------------------------------------ detection, registry


#: The readers of the four non-DWD formats in the one registry of radar.interface.
FOREIGN_READERS = {
    "knmi-hdf5": read_knmi_hdf5,
    "mch-gif": read_mch_gif,
    "fmi-pgm": read_fmi_pgm,
    "bom-rf3": read_bom_rf3,
}


def detect_foreign(data: bytes, name: str) -> str | None:
    """The registry's detection, when it finds one of the four formats (else None)."""
    try:
        fmt = radar.interface.detect_format(data, name)
    except FormatError:
        return None
    return fmt if fmt in FOREIGN_READERS else None


def test_detect_foreign(data_dir: Path, tmp_path: Path) -> None:
    cases = {
        files(data_dir, KNMI_RAP, "*.h5", 1)[0]: "knmi-hdf5",
        files(data_dir, KNMI_NA, "*.hf5", 1)[0]: "knmi-hdf5",
        files(data_dir, f"{MCH}/20150515", "*.gif", 1)[0]: "mch-gif",
        files(data_dir, FMI, "*.pgm.gz", 1)[0]: "fmi-pgm",
        files(data_dir, BOM_CSCN, "*.nc", 1)[0]: "bom-rf3",
        files(data_dir, BOM_C10, "*.nc", 1)[0]: "bom-rf3",
    }
    for path, name in cases.items():
        (blob,) = load(path)
        assert detect_foreign(blob.data, blob.name) == name, path
        assert detect_foreign(blob.data, "upload") == name, f"{path} without its name"
        assert radar.interface.get_reader(name) is FOREIGN_READERS[name]
    # DWD files and our own netCDF are not foreign
    dwd = data_dir / "dwd"
    for path in (
        dwd / "odim_ry/20250604_1630_RY.h5",
        dwd / "radolan_to_netcdf/radolan_ry/raa01-ry_10000-2001011500-dwd---bin.gz",
    ):
        if path.exists():
            (blob,) = load(path)
            assert detect_foreign(blob.data, blob.name) is None, path
    ours = write_netcdf(synthetic_sequence(frames=2, height=32, width=32))
    assert detect_foreign(ours, "ours.nc") is None
    assert detect_foreign(b"", "x") is None and detect_foreign(b"GIF89a....", "x.gif") is None


@pytest.mark.parametrize(
    "folder, pattern, count, minutes, needs_pysteps",
    [
        (KNMI_RAP, "*.h5", 3, 5, False),
        (KNMI_NA, "*.hf5", 3, 5, False),
        (f"{MCH}/20160711", "*.gif", 3, 5, True),
        (FMI, "*.pgm.gz", 3, 5, True),
        (BOM_CSCN, "*.nc", 3, 6, False),
        (BOM_C10, "*.nc", 3, 10, False),
    ],
)
def test_read_sequence_through_the_registry(
    data_dir: Path, folder, pattern, count, minutes, needs_pysteps
) -> None:
    """Detected and read by radar.interface, the specific formats before the generic ones."""
    if needs_pysteps:
        pytest.importorskip("pysteps", reason="the MeteoSwiss and FMI readers need pysteps")
    paths = files(data_dir, folder, pattern, count)
    ds = check_sequence(read_sequence(paths))
    assert_cadence(ds, float(minutes), count)
    assert ds.attrs["source_format"] in FOREIGN_READERS


def test_bad_input_names_the_file(data_dir: Path) -> None:
    path = files(data_dir, KNMI_NA, "*.hf5", 1)[0]
    with pytest.raises(FormatError, match="broken.hf5"):
        read_knmi_hdf5(Blob("broken.hf5", path.read_bytes()[:5000]))
    odim = data_dir / "dwd/odim_ry/20250604_1630_RY.h5"
    if odim.exists():
        with pytest.raises(FormatError, match="not a KNMI composite"):
            read_knmi_hdf5(Blob(odim.name, odim.read_bytes()))
    with pytest.raises(FormatError, match="x.nc"):
        read_bom_rf3(Blob("x.nc", write_netcdf(synthetic_sequence(frames=1, height=8, width=8))))
    with pytest.raises(FormatError, match="not a binary PGM"):
        read_fmi_pgm(Blob("frame.pgm", b"P2\n1 1\n255\n0\n"))


def test_import_without_pysteps() -> None:
    """The readers import without pysteps; KNMI/BoM still read, MCH/FMI say what is missing."""
    code = (
        "import sys; sys.modules['pysteps'] = None\n"
        "import radar.interface\n"
        "from radar.mch import read_mch_gif\n"
        "from radar.exceptions import MissingOptionalDependency\n"
        "from radar.sources import Blob\n"
        "try:\n"
        "    read_mch_gif(Blob('AQC151351545F_00005.801.gif', b'GIF89a' + bytes(64)))\n"
        "except MissingOptionalDependency as exc:\n"
        "    print('missing:', exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "missing:" in out.stdout and "pysteps" in out.stdout
    assert issubclass(MissingOptionalDependency, ImportError)
