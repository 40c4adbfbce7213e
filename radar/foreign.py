"""radar.foreign: readers for the non-DWD radar archives (KNMI, MeteoSwiss, FMI, BoM).

Each reader takes a decompressed :class:`~radar.sources.Blob` and returns the canonical sequence
of :mod:`radar.canonical` (one frame, ``rainfall_rate`` in mm/h, NaN outside the coverage,
north-up, valid time in UTC at the end of the product's interval):

===========  ===========================  ==========  =============================================
name         files                        grid        decoding
===========  ===========================  ==========  =============================================
knmi-hdf5    RAD_NL25_RAP_5min_*.h5,      765 x 700   h5py; ``GEO = gain * PV + offset`` from the
             RAD_NL25_PCP_NA (``.hf5``)   1 km        file. RAP: mm per 5 min -> mm/h; PCP_NA: dBZ
                                                      -> Z-R, PV 0 (no echo) is no rain
mch-gif      AQC..._00005.801.gif         640 x 710   pysteps ``import_mch_gif`` (8-bit scale, mm
             (also CPC)                   1 km        per ACCUm minutes) -> mm/h; Swiss LV03
fmi-pgm      *_fmi.radar.composite        1226 x 760  pysteps ``import_fmi_pgm`` (dBZ = (PV-64)/2)
             .lowest_FIN_SUOMI1.pgm(.gz)  1 km        -> Z-R; stereographic from the PGM header
bom-rf3      *.prcp-cscn.nc, *.prcp-c10   512 x 512   xarray (h5netcdf); mm per (valid - start
             .nc (Rainfields3)            500 m       time) -> mm/h; Albers from the grid mapping
===========  ===========================  ==========  =============================================

Reflectivity becomes rain through the project's Z = 256 R^1.42 (:mod:`radar.transforms`), not
the institutes' own laws; echoes below :data:`radar.radolan.NO_RAIN_DBZ` count as no rain, and
``keep_dbz=True`` keeps the dBZ field as ``reflectivity``. Times come from the files' metadata
(KNMI ``overview``, the GIF comment, the PGM ``obstime``, the netCDF ``valid_time``) and only
where that is missing from the file name.

:func:`detect_foreign` tells these formats apart from the content. KNMI HDF5 and BoM netCDF4
are HDF5 files, which :func:`radar.netcdf.is_netcdf` also accepts, so the registry must ask
:func:`detect_foreign` *before* falling back to the generic CF-NetCDF reader (which cannot read
BoM files: they have no time dimension and their x/y are in km). :data:`FOREIGN_READERS` maps
the registry names to the readers, :data:`FOREIGN_ALIASES` offers short aliases.

pysteps is needed only for the MeteoSwiss and FMI readers and is imported when they are used;
without it they raise :class:`~radar.exceptions.MissingOptionalDependency`.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar._pysteps import pysteps_module
from radar.canonical import make_sequence
from radar.exceptions import FormatError, MissingOptionalDependency
from radar.radolan import NO_RAIN_DBZ
from radar.sources import GZIP_MAGIC, Blob, decompress
from radar.transforms import ZR_A, ZR_B, dbz_to_rain

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KNMI_ATTRIBUTION = "Source: KNMI"
MCH_ATTRIBUTION = "MeteoSwiss"
FMI_ATTRIBUTION = "FMI"
BOM_ATTRIBUTION = "Bureau of Meteorology"
DBZ_ATTRS = {
    "standard_name": "equivalent_reflectivity_factor",
    "units": "dBZ",
    "grid_mapping": "crs",
}


# --------------------------------------------------------------------------------------------
# helpers


def _pysteps_importers() -> ModuleType:
    return pysteps_module("pysteps.io.importers", "reading MeteoSwiss GIF and FMI PGM composites")


def _call_pysteps(blob: Blob, filename: str, importer: str, **kwargs) -> tuple:
    """Run a pysteps importer on the blob's bytes, written to a temporary file ``filename``."""
    module = _pysteps_importers()
    with tempfile.TemporaryDirectory(prefix="radar-foreign-") as folder:
        path = Path(folder) / filename
        path.write_bytes(blob.data)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                return getattr(module, importer)(str(path), **kwargs)
        except Exception as exc:  # pysteps, PIL and matplotlib raise many types
            if type(exc).__name__ == "MissingOptionalDependency":
                raise MissingOptionalDependency(f"{blob.name}: {exc}") from None
            raise FormatError(
                f"{blob.name}: unreadable file ({type(exc).__name__}: {exc})"
            ) from None


def _base_name(name: str, default: str) -> str:
    """The last path component of a blob name (``archive.tar:dir/file`` -> ``file``)."""
    base = re.split(r"[/\\:]", name)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)
    return base if base.strip("._") else default


def _plain(blob: Blob) -> Blob:
    """The blob with gzip/bzip2 expanded (sources.load already does this; direct callers not)."""
    if blob.data[:2] == GZIP_MAGIC or blob.data[:3] == b"BZh":
        return Blob(blob.name, decompress(blob.data, blob.name))
    return blob


def _dbz_rain(dbz: np.ndarray) -> np.ndarray:
    """Z-R rain rate of a dBZ field: below NO_RAIN_DBZ no rain, NaN stays NaN."""
    with np.errstate(invalid="ignore"):
        rain = np.where(dbz < NO_RAIN_DBZ, 0.0, dbz_to_rain(dbz)).astype(np.float32)
    rain[np.isnan(dbz)] = np.nan
    return rain


def _edges_to_centres(first: float, step: float, count: int) -> np.ndarray:
    """Pixel-centre coordinates from the outer edge ``first`` and a signed ``step``."""
    return first + (np.arange(count) + 0.5) * step


def _text(value) -> str:
    """An HDF5/netCDF attribute as text (bytes, numpy bytes, or a one-element array of them)."""
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("ascii", "replace")
    return str(value)


def _number(value) -> float:
    return float(np.asarray(value).ravel()[0])


# --------------------------------------------------------------------------------------------
# KNMI HDF5 (RAD_NL25_RAP_5min accumulations, RAD_NL25_PCP_NA reflectivity)

_KNMI_GROUPS = ("overview", "image1", "geographic")
_CALIBRATION = re.compile(
    r"GEO\s*=\s*([-+0-9.eE]+)\s*\*\s*PV\s*\+?\s*([-+]?\s*[-+0-9.eE]+)", re.IGNORECASE
)
_KNMI_TIME = "%d-%b-%Y;%H:%M:%S.%f"


def _knmi_crs(proj4: str, name: str) -> pyproj.CRS:
    """The KNMI projection in metres.

    The files give the ellipsoid in km (their coordinates are km), ``6378.137/6356.752`` in the
    2010 RAP files and rounded to ``6378.14/6356.75`` (with a broken ``y_0=0``) in the 2021
    PCP_NA files. Both are taken as a = 6378137 m, b = 6356752 m, as pysteps does for the
    rounded string; the rounding would move points by a few metres only.
    """
    params = {}
    for token in proj4.replace("+", " +").split():
        key, _, value = token.lstrip("+").partition("=")
        params[key] = value
    if params.get("proj") != "stere":
        raise FormatError(f"{name}: KNMI projection {proj4!r} is not polar stereographic")
    try:
        a, b = float(params.pop("a")), float(params.pop("b"))
    except (KeyError, ValueError):
        raise FormatError(f"{name}: KNMI projection {proj4!r} has no ellipsoid") from None
    if a < 1e5:  # given in km
        a, b = a * 1000.0, b * 1000.0
    if abs(a - 6378137.0) < 10 and abs(b - 6356752.0) < 10:
        a, b = 6378137.0, 6356752.0
    lat_0 = float(params.get("lat_0", 90))
    lon_0 = float(params.get("lon_0", 0))
    lat_ts = float(params.get("lat_ts", 60))
    return pyproj.CRS.from_proj4(
        f"+proj=stere +lat_0={lat_0:g} +lon_0={lon_0:g} +lat_ts={lat_ts:g} +a={a:.0f} "
        f"+b={b:.0f} +x_0=0 +y_0=0 +units=m +no_defs"
    )


def _knmi_axis(offset: float, size: float, count: int, unit: str) -> np.ndarray:
    """Pixel-centre coordinates (m) of one KNMI axis from its offset and pixel size (``unit``).

    Offsets and sizes within 0.05 pixel of whole numbers are snapped (the 2021 files carry
    3649.982 and 1.0000035 km, float32 leftovers of the rounded ellipsoid, for the same 1 km
    grid as the 2010 files; the difference is under 5 m over the grid).
    """
    scale = {"KM": 1000.0, "M": 1.0}.get(unit.upper(), 1000.0)
    if abs(size - round(size)) * count < 0.05 and round(size) != 0:
        size = float(round(size))
    if abs(offset - round(offset)) < 0.05:
        offset = float(round(offset))
    return (offset + np.arange(count) + 0.5) * size * scale


def is_knmi_hdf5(data: bytes) -> bool:
    """An HDF5 file with KNMI's ``overview``/``image1``/``geographic`` groups."""
    if data[:8] != HDF5_MAGIC:
        return False
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            return all(group in h5 for group in _KNMI_GROUPS)
    except OSError:
        return False


def read_knmi_hdf5(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one KNMI HDF5 composite (RAD_NL25_RAP_5min or RAD_NL25_PCP_NA).

    The calibration ``GEO = gain * PV + offset`` comes from ``image1/calibration``. Pixels equal
    to ``calibration_out_of_image`` are outside the coverage (NaN). ``calibration_missing_data``
    is NaN for accumulations (in the RAP files it equals out-of-image, 65535); for reflectivity
    (PCP_NA: PV 0, -32 dBZ) it marks pixels inside the coverage without echo, i.e. no rain.
    Accumulations (``ACCUMULATED_PRECIPITATION_[MM]``) are divided by the interval between
    ``product_datetime_start`` and ``_end``; the frame's time is the end.
    """
    import h5py

    blob = _plain(blob)
    if blob.data[:8] != HDF5_MAGIC:
        raise FormatError(f"{blob.name}: not an HDF5 file (KNMI composites are HDF5)")
    try:
        with h5py.File(io.BytesIO(blob.data), "r") as h5:
            missing = [g for g in _KNMI_GROUPS if g not in h5]
            if missing:
                raise FormatError(
                    f"{blob.name}: not a KNMI composite (no {', '.join(missing)} group)"
                )
            image = h5["image1"]
            raw = image["image_data"][()]
            parameter = _text(image.attrs.get("image_geo_parameter", b""))
            calib = image["calibration"].attrs
            formula = _text(calib.get("calibration_formulas", b""))
            out_value = calib.get("calibration_out_of_image")
            miss_value = calib.get("calibration_missing_data")
            geo = h5["geographic"].attrs
            proj4 = _text(h5["geographic/map_projection"].attrs["projection_proj4_params"])
            columns = int(_number(geo["geo_number_columns"]))
            rows = int(_number(geo["geo_number_rows"]))
            col_offset = _number(geo["geo_column_offset"])
            row_offset = _number(geo["geo_row_offset"])
            size_x = _number(geo["geo_pixel_size_x"])
            size_y = _number(geo["geo_pixel_size_y"])
            unit = _text(geo.get("geo_dim_pixel", b"KM")).split(",")[0]
            overview = h5["overview"].attrs
            start = _text(overview.get("product_datetime_start", b""))
            end = _text(overview["product_datetime_end"])
            product = _text(overview.get("product_group_name", b"")) or _text(
                image.attrs.get("image_product_name", b"KNMI")
            )
    except FormatError:
        raise
    except (OSError, KeyError, ValueError, IndexError, TypeError) as exc:
        raise FormatError(f"{blob.name}: unreadable or incomplete KNMI HDF5 ({exc})") from None

    if raw.shape != (rows, columns):
        raise FormatError(
            f"{blob.name}: image is {raw.shape[0]}x{raw.shape[1]}, geographic says {rows}x{columns}"
        )
    match = _CALIBRATION.search(formula)
    if not match:
        raise FormatError(f"{blob.name}: unknown KNMI calibration formula {formula!r}")
    gain, offset = float(match[1]), float(match[2].replace(" ", ""))
    try:
        valid = pd.to_datetime(end, format=_KNMI_TIME)
        begin = pd.to_datetime(start, format=_KNMI_TIME) if start else valid
    except ValueError:
        raise FormatError(f"{blob.name}: unreadable KNMI product time {end!r}") from None
    interval = (valid - begin) / pd.Timedelta(minutes=1)

    outside = np.zeros(raw.shape, dtype=bool)
    if out_value is not None:
        outside |= raw == int(_number(out_value))
    no_echo = np.zeros(raw.shape, dtype=bool)
    if miss_value is not None:
        no_echo = raw == int(_number(miss_value))
    values = (raw.astype(np.float64) * gain + offset).astype(np.float32)

    attrs = {
        "source_product": product,
        "source_format": "knmi-hdf5",
        "institution": "KNMI (Royal Netherlands Meteorological Institute)",
        "attribution": KNMI_ATTRIBUTION,
        "knmi_calibration": formula,
    }
    extra = None
    if "DBZ" in parameter.upper() or "REFLECTIVITY" in parameter.upper():
        values[outside] = np.nan
        rain = _dbz_rain(values)
        rain[no_echo & ~outside] = 0.0
        attrs.update(
            source_units="dBZ",
            accutime_minutes=interval if interval > 0 else 5.0,
            zr_a=ZR_A,
            zr_b=ZR_B,
            no_rain_dbz=NO_RAIN_DBZ,
        )
        if keep_dbz:
            extra = {"reflectivity": (values[None], dict(DBZ_ATTRS))}
    elif "MM" in parameter.upper() or "PRECIPITATION" in parameter.upper():
        if interval <= 0:
            raise FormatError(
                f"{blob.name}: accumulation without an interval (start {start!r}, end {end!r})"
            )
        values[outside | no_echo] = np.nan
        rain = np.maximum(values, 0.0) * np.float32(60.0 / interval)
        rain[np.isnan(values)] = np.nan
        attrs.update(source_units=f"mm per {interval:g} min", accutime_minutes=float(interval))
    else:
        raise FormatError(
            f"{blob.name}: KNMI quantity {parameter!r} is not supported "
            "(accumulated precipitation in mm or reflectivity in dBZ are)"
        )

    x = _knmi_axis(col_offset, size_x, columns, unit)
    y = _knmi_axis(row_offset, size_y, rows, unit)  # size_y < 0: row 0 is the north
    return make_sequence(rain[None], [valid], x, y, _knmi_crs(proj4, blob.name), attrs, extra=extra)


# --------------------------------------------------------------------------------------------
# MeteoSwiss GIF (AQC / CPC)

_MCH_NAME = re.compile(
    r"(?P<product>[A-Z]{3})(?P<when>\d{9})(?P<version>[A-Z0-9]?)_(?P<accum>\d{5})\.\d{3}"
    r"(\.gif)?$",
    re.IGNORECASE,
)
_MCH_PRDT = re.compile(rb"PRDT=(?P<product>[A-Z]{3})(?P<when>\d{9})")
_MCH_ACCU = re.compile(rb"ACCUm=(?P<accum>\d+)")
#: products on pysteps' 8-bit scale of accumulated precipitation (mm per ACCUm minutes)
MCH_PRODUCTS = ("AQC", "CPC")


def is_mch_gif(data: bytes, name: str = "") -> bool:
    """A GIF that says it was generated by MeteoSwiss, or is named like a MeteoSwiss product."""
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        return False
    return b"meteoswiss" in data[:4096].lower() or bool(_MCH_NAME.search(_base_name(name, "")))


def read_mch_gif(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one MeteoSwiss 8-bit GIF composite (AQC or CPC) with pysteps' ``import_mch_gif``.

    The digital numbers are pysteps' scale of precipitation amounts (mm over the product's
    interval; 0, 1 and 251-254 are no rain, 255 is outside the coverage -> NaN), divided by the
    interval to mm/h. Product, time and interval come from the GIF comment (``PRDT=AQC15135
    1545``, ``ACCUm=000005``; time is day-of-year in UTC), else from the file name. The grid is
    the Swiss CCS4 domain in LV03 (pysteps' definition: x 255-965 km, y -160-480 km, 1 km).
    ``keep_dbz`` is accepted for a uniform signature (no dBZ in these files).
    """
    blob = _plain(blob)
    if blob.data[:6] not in (b"GIF87a", b"GIF89a"):
        raise FormatError(f"{blob.name}: not a GIF file (MeteoSwiss composites are GIF)")
    head = blob.data[:4096]
    prdt, accu = _MCH_PRDT.search(head), _MCH_ACCU.search(head)
    named = _MCH_NAME.search(_base_name(blob.name, ""))
    if prdt:
        product, when = prdt["product"].decode(), prdt["when"].decode()
    elif named:
        product, when = named["product"].upper(), named["when"]
    else:
        raise FormatError(
            f"{blob.name}: a MeteoSwiss GIF needs its comment (PRDT=...) or its MeteoSwiss "
            "file name (AQCyyjjjhhmmF_00005.801.gif) for product and time"
        )
    if accu:
        minutes = float(int(accu["accum"]))
    elif named:
        minutes = float(int(named["accum"]))
    else:
        raise FormatError(f"{blob.name}: no accumulation interval (ACCUm) in comment or name")
    if product.upper() not in MCH_PRODUCTS:
        raise FormatError(
            f"{blob.name}: MeteoSwiss product {product} is not supported "
            f"({', '.join(MCH_PRODUCTS)} are)"
        )
    if minutes <= 0:
        raise FormatError(f"{blob.name}: accumulation interval of {minutes:g} minutes")
    try:
        valid = pd.to_datetime(when, format="%y%j%H%M")
    except ValueError:
        raise FormatError(f"{blob.name}: unreadable MeteoSwiss time {when!r}") from None

    amount, _, meta = _call_pysteps(
        blob,
        _base_name(blob.name, "frame.gif"),
        "import_mch_gif",
        product=product,
        unit="mm",
        accutime=minutes,
    )
    rain = (np.asarray(amount, dtype=np.float64) * (60.0 / minutes)).astype(np.float32)
    rows, cols = rain.shape
    dx, dy = float(meta["xpixelsize"]), float(meta["ypixelsize"])
    if (
        abs((meta["x2"] - meta["x1"]) / dx - cols) > 0.01
        or abs((meta["y2"] - meta["y1"]) / dy - rows) > 0.01
    ):
        raise FormatError(
            f"{blob.name}: image of {rows}x{cols} pixels does not fit the Swiss CCS4 grid "
            f"({(meta['y2'] - meta['y1']) / dy:g}x{(meta['x2'] - meta['x1']) / dx:g})"
        )
    x = _edges_to_centres(float(meta["x1"]), dx, cols)
    y = _edges_to_centres(float(meta["y2"]), -dy, rows)  # yorigin "upper": row 0 is north
    attrs = {
        "source_product": product.upper(),
        "source_format": "mch-gif",
        "source_units": f"mm per {minutes:g} min",
        "institution": "MeteoSwiss",
        "attribution": MCH_ATTRIBUTION,
        "accutime_minutes": minutes,
    }
    with warnings.catch_warnings():
        # LV03 (oblique Mercator) has no complete CF form; the WKT stays authoritative
        warnings.filterwarnings("ignore", message=".*lost in conversion to CF")
        return make_sequence(
            rain[None], [valid], x, y, pyproj.CRS.from_proj4(meta["projection"]), attrs
        )


# --------------------------------------------------------------------------------------------
# FMI PGM

_FMI_NAME = re.compile(r"(?P<when>\d{12})_fmi\.radar\.composite", re.IGNORECASE)
_FMI_OBSTIME = re.compile(rb"#\s*obstime\s+(\d{12})")


def _pgm_header(data: bytes) -> bytes:
    """The PGM header (magic, comments, size, maxval) or what there is of it."""
    return data[:4096]


def is_fmi_pgm(data: bytes, name: str = "") -> bool:
    """A binary PGM (P5) with FMI's header comments, or named like an FMI composite."""
    if data[:2] != b"P5":
        return False
    head = _pgm_header(data)
    return (b"# obstime" in head and b"# projection_name" in head) or bool(
        _FMI_NAME.search(_base_name(name, ""))
    )


def read_fmi_pgm(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one FMI 8-bit PGM reflectivity composite with pysteps' ``import_fmi_pgm``.

    ``dBZ = (PV - 64) / 2``; the PGM maximum value (255) is outside the coverage (NaN). The
    stereographic projection is pysteps' (true at 60N, central meridian from the header, sphere
    R = 6371288 m, false origin at the lower-left corner); the grid's corners come from the
    header's ``bottomleft``/``topright``. The time is ``obstime`` (UTC) from the header, else
    the file name. The blob may still be gzipped.
    """
    blob = _plain(blob)
    if blob.data[:2] != b"P5":
        raise FormatError(f"{blob.name}: not a binary PGM file (FMI composites are P5 PGM)")
    head = _pgm_header(blob.data)
    obstime = _FMI_OBSTIME.search(head)
    named = _FMI_NAME.search(_base_name(blob.name, ""))
    when = obstime[1].decode() if obstime else named["when"] if named else None
    if when is None:
        raise FormatError(
            f"{blob.name}: an FMI PGM needs 'obstime' in its header or its FMI file name "
            "(YYYYmmddHHMM_fmi.radar.composite...) for the time"
        )
    try:
        valid = pd.to_datetime(when, format="%Y%m%d%H%M")
    except ValueError:
        raise FormatError(f"{blob.name}: unreadable FMI time {when!r}") from None

    filename = _base_name(blob.name, "frame.pgm")
    if filename.lower().endswith(".gz"):
        filename = filename[:-3]
    dbz, _, meta = _call_pysteps(blob, filename, "import_fmi_pgm", gzipped=False)
    if "projection" not in meta:
        raise FormatError(
            f"{blob.name}: FMI PGM without stereographic projection metadata "
            "(type, centrallongitude, bottomleft, topright)"
        )
    dbz = np.asarray(dbz, dtype=np.float32)
    rows, cols = dbz.shape
    dx, dy = float(meta["xpixelsize"]), float(meta["ypixelsize"])
    if (
        abs((meta["x2"] - meta["x1"]) / dx - cols) > 0.01
        or abs((meta["y2"] - meta["y1"]) / dy - rows) > 0.01
    ):
        raise FormatError(
            f"{blob.name}: image of {rows}x{cols} pixels does not fit the header's corners"
        )
    x = _edges_to_centres(float(meta["x1"]), dx, cols)
    y = _edges_to_centres(float(meta["y2"]), -dy, rows)  # yorigin "upper": row 0 is north
    product = "LOWEST"
    match = re.search(rb"#\s*productname\s+(\S+)", head)
    if match:
        product = match[1].decode("ascii", "replace")
    attrs = {
        "source_product": product,
        "source_format": "fmi-pgm",
        "source_units": "dBZ",
        "institution": "Finnish Meteorological Institute",
        "attribution": FMI_ATTRIBUTION,
        "accutime_minutes": float(meta.get("accutime", 5.0)),
        "zr_a": ZR_A,
        "zr_b": ZR_B,
        "no_rain_dbz": NO_RAIN_DBZ,
    }
    extra = {"reflectivity": (dbz[None], dict(DBZ_ATTRS))} if keep_dbz else None
    return make_sequence(
        _dbz_rain(dbz)[None],
        [valid],
        x,
        y,
        pyproj.CRS.from_proj4(meta["projection"]),
        attrs,
        extra=extra,
    )


# --------------------------------------------------------------------------------------------
# BoM Rainfields3 netCDF

_BOM_NAME = re.compile(r"\.(?P<product>prcp-[a-z0-9]+)\.nc$", re.IGNORECASE)
_BOM_MARKERS = (b"Bureau of Meteorology", b"rainfields")


def is_bom_rf3(data: bytes, name: str = "") -> bool:
    """A netCDF file from BoM's Rainfields3 (institution or source attribute), or so named."""
    if data[:8] == HDF5_MAGIC:
        import h5py

        try:
            with h5py.File(io.BytesIO(data), "r") as h5:
                text = " ".join(
                    _text(h5.attrs.get(key, b"")) for key in ("institution", "source", "title")
                ).lower()
                if "bureau of meteorology" in text or "rainfields" in text:
                    return "precipitation" in h5
        except OSError:
            return False
    elif data[:3] == b"CDF":
        head = data[:8192].lower()
        if any(marker.lower() in head for marker in _BOM_MARKERS):
            return True
    else:
        return False
    return bool(_BOM_NAME.search(_base_name(name, "")))


def _bom_axis(var: xr.DataArray) -> np.ndarray:
    """Pixel-centre coordinates in metres of one Rainfields axis.

    Rainfields 3.2 files (prcp-c10) give centres with ``bounds``. Rainfields 3.0 files
    (prcp-cscn) have no bounds and their coordinates run from -128 to 127.5 km (y from 128 to
    -127.5): the upper-left corners of the pixels of a domain centred on the radar (the
    projection's origin). Such an axis, off-centre by exactly half a pixel and without bounds,
    is moved by half a pixel to the centres.
    """
    units = str(var.attrs.get("units", "m")).strip().lower()
    scale = {"km": 1000.0, "m": 1.0, "metre": 1.0, "meter": 1.0}.get(units)
    if scale is None:
        raise FormatError(f"projection coordinate {var.name} in unknown units {units!r}")
    values = var.values.astype(np.float64) * scale
    if values.size > 1 and "bounds" not in var.attrs:
        step = values[1] - values[0]
        if abs(values[0] + values[-1] + step) < abs(step) * 1e-3:
            values = values + step / 2.0
    return values


def read_bom_rf3(blob: Blob, keep_dbz: bool = False) -> xr.Dataset:
    """Read one BoM Rainfields3 accumulation (``precipitation`` in mm = kg m-2) to mm/h.

    The interval is ``valid_time - start_time`` (6 min for prcp-cscn, 10 min for prcp-c10);
    the frame's time is ``valid_time`` (end of the accumulation). x/y are km in the file, the
    Albers equal-area projection comes from the CF grid mapping ``proj``; the fill value is
    NaN. ``keep_dbz`` is accepted for a uniform signature.
    """
    blob = _plain(blob)
    if blob.data[:8] != HDF5_MAGIC and blob.data[:3] != b"CDF":
        raise FormatError(f"{blob.name}: not a netCDF file (Rainfields3 files are netCDF)")
    engine = "scipy" if blob.data[:3] == b"CDF" else "h5netcdf"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_dataset(io.BytesIO(blob.data), engine=engine, decode_times=False)
            ds.load()
    except Exception as exc:  # xarray raises many types for damaged files
        raise FormatError(f"{blob.name}: unreadable netCDF ({type(exc).__name__}: {exc})") from None
    missing = [v for v in ("precipitation", "valid_time", "start_time", "x", "y") if v not in ds]
    if missing:
        raise FormatError(f"{blob.name}: not a Rainfields3 accumulation (no {', '.join(missing)})")
    var = ds["precipitation"]
    if set(var.dims) != {"y", "x"}:
        raise FormatError(f"{blob.name}: precipitation has dims {var.dims}, expected (y, x)")
    units = str(var.attrs.get("units", "")).strip()
    if units not in ("mm", "kg m-2"):
        raise FormatError(f"{blob.name}: precipitation in {units!r}, expected mm or kg m-2")

    def seconds(name: str) -> pd.Timestamp:
        item = ds[name]
        unit = str(item.attrs.get("units", ""))
        match = re.match(r"seconds since (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)", unit)
        if not match:
            raise FormatError(f"{blob.name}: {name} in unsupported units {unit!r}")
        return pd.Timestamp(match[1]) + pd.Timedelta(seconds=int(item.values))

    valid, start = seconds("valid_time"), seconds("start_time")
    minutes = (valid - start) / pd.Timedelta(minutes=1)
    if minutes <= 0:
        raise FormatError(f"{blob.name}: accumulation interval of {minutes:g} minutes")

    gm = var.attrs.get("grid_mapping") or var.encoding.get("grid_mapping") or "proj"
    if gm not in ds.variables:
        raise FormatError(f"{blob.name}: grid mapping {gm!r} missing")
    try:
        crs = pyproj.CRS.from_cf(dict(ds[gm].attrs))
    except pyproj.exceptions.CRSError as exc:
        raise FormatError(f"{blob.name}: unusable grid mapping ({exc})") from None
    try:
        x, y = _bom_axis(ds["x"]), _bom_axis(ds["y"])
    except FormatError as exc:
        raise FormatError(f"{blob.name}: {exc}") from None

    amount = var.transpose("y", "x").values.astype(np.float64)
    rain = (np.maximum(amount, 0.0) * (60.0 / minutes)).astype(np.float32)
    rain[np.isnan(amount)] = np.nan
    named = _BOM_NAME.search(_base_name(blob.name, ""))
    product = named["product"].lower() if named else f"rainfields3-{minutes:g}min"
    attrs = {
        "source_product": product,
        "source_format": "bom-rf3",
        "source_units": f"{units} per {minutes:g} min",
        "institution": str(ds.attrs.get("institution", "Bureau of Meteorology")),
        "attribution": BOM_ATTRIBUTION,
        "accutime_minutes": float(minutes),
    }
    for key, target in (
        ("licence", "source_licence"),
        ("station_id", "station_id"),
        ("station_name", "station_name"),
        ("source", "source_software"),
    ):
        if key in ds.attrs:
            value = ds.attrs[key]
            attrs[target] = int(value) if isinstance(value, np.integer) else str(value)
    return make_sequence(rain[None], [valid], x, y, crs, attrs)


# --------------------------------------------------------------------------------------------
# registry

Reader = Callable[..., xr.Dataset]

FOREIGN_READERS: dict[str, Reader] = {
    "knmi-hdf5": read_knmi_hdf5,
    "mch-gif": read_mch_gif,
    "fmi-pgm": read_fmi_pgm,
    "bom-rf3": read_bom_rf3,
}
FOREIGN_ALIASES: dict[str, str] = {
    "knmi": "knmi-hdf5",
    "knmi-pcp-na": "knmi-hdf5",
    "mch": "mch-gif",
    "meteoswiss": "mch-gif",
    "gif": "mch-gif",
    "fmi": "fmi-pgm",
    "pgm": "fmi-pgm",
    "bom": "bom-rf3",
    "rainfields3": "bom-rf3",
    "rf3": "bom-rf3",
}


def detect_foreign(data: bytes, name: str = "<bytes>") -> str | None:
    """The :data:`FOREIGN_READERS` name of a (decompressed) non-DWD file, or None.

    Content decides (HDF5 groups, netCDF global attributes, GIF comment, PGM header); the
    file name helps only where the content says nothing about the source (a GIF without
    MeteoSwiss' comment, a PGM without FMI's header comments, a netCDF without BoM's
    attributes).
    """
    if not data:
        return None
    if data[:8] == HDF5_MAGIC:
        if is_knmi_hdf5(data):
            return "knmi-hdf5"
        if is_bom_rf3(data, name):
            return "bom-rf3"
        return None
    if data[:3] == b"CDF":
        return "bom-rf3" if is_bom_rf3(data, name) else None
    if is_mch_gif(data, name):
        return "mch-gif"
    if is_fmi_pgm(data, name):
        return "fmi-pgm"
    return None
