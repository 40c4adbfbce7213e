"""radar.grids: DWD grids, their projection, lat/lon, and regridding to a model's grid.

DWD composites come on polar stereographic grids (true at 60°N, central meridian 10°E):

=========  ===========  ==============================  =========================
name       rows x cols  datum                           products
=========  ===========  ==============================  =========================
national   900 x 900    sphere R = 6370.04 km           RY, RW, RX, ...
extended   1100 x 900   sphere R = 6370.04 km           WX, YW
de1200     1200 x 1100  WGS84                           RV and every ODIM_H5 file
european   1500 x 1400  sphere R = 6370.04 km           EX, EZ, ...
=========  ===========  ==============================  =========================

Regridding to a coarser model grid is a NaN-aware block mean (rain is conserved); back to the
input grid it is bilinear interpolation on the projection coordinates.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pyproj
import xarray as xr

from radar.exceptions import RadarError

GRID_NAMES: dict[tuple[int, int], str] = {
    (900, 900): "national",
    (1100, 900): "extended",
    (1200, 1100): "de1200",
    (1500, 1400): "european",
}


def grid_name(shape: tuple[int, int]) -> str:
    """The DWD name of a grid shape (rows, cols), or ``"custom"``."""
    return GRID_NAMES.get(tuple(int(n) for n in shape), "custom")


def crs_variable(crs: pyproj.CRS) -> xr.DataArray:
    """A CF grid-mapping variable (named ``crs`` by the caller) carrying WKT and proj string."""
    return xr.DataArray(np.int32(0), attrs=dict(_crs_attrs(crs.to_wkt())))


@functools.lru_cache(maxsize=16)
def _crs_attrs(wkt: str) -> tuple[tuple[str, object], ...]:
    crs = pyproj.CRS.from_wkt(wkt)
    attrs = crs.to_cf()
    if attrs.get("grid_mapping_name") == "polar_stereographic":
        # CF requires it and pyproj leaves it out for variant B (lat_ts): the pole of the
        # projection, on the side of the standard parallel
        north = attrs.get("standard_parallel", 90.0) >= 0
        attrs.setdefault("latitude_of_projection_origin", 90.0 if north else -90.0)
    attrs["crs_wkt"] = wkt
    attrs["spatial_ref"] = wkt  # GDAL's name for the same thing
    with warnings.catch_warnings():
        # the proj string is a convenience for humans and old tools; WKT stays authoritative
        warnings.simplefilter("ignore", UserWarning)
        attrs["proj4_params"] = crs.to_proj4()
    return tuple(attrs.items())


#: What pyproj raises for a CF grid mapping with a hostile or missing value: a parameter as
#: text (ValueError), one left out (KeyError), a number where text belongs (TypeError).
CRS_ERRORS = (pyproj.exceptions.CRSError, KeyError, TypeError, ValueError, OverflowError)


def crs_from_cf(attrs: dict) -> pyproj.CRS:
    """``pyproj.CRS.from_cf``, told that the prime meridian is Greenwich when the grid mapping
    names none (most do not): pyproj then looks Greenwich up by name in its database, 0.3 s of
    CPU every time (most of a BoM read; found by ``nowcast bench fuzz``)."""
    if "longitude_of_prime_meridian" not in attrs and "prime_meridian_name" not in attrs:
        attrs = {**attrs, "longitude_of_prime_meridian": 0.0, "prime_meridian_name": "Greenwich"}
    return pyproj.CRS.from_cf(attrs)


def dataset_crs(ds: xr.Dataset) -> pyproj.CRS:
    """The projection of a canonical dataset, from its grid-mapping variable."""
    name = ds["rainfall_rate"].attrs.get("grid_mapping", "crs")
    if name not in ds:
        raise RadarError("dataset has no grid-mapping variable")
    attrs = ds[name].attrs
    if "crs_wkt" in attrs:
        return pyproj.CRS.from_wkt(attrs["crs_wkt"])
    return crs_from_cf(dict(attrs))


def latlon(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees) of every pixel centre, each shaped (y, x), float32.

    Cached per grid (projection and coordinates): every result a worker writes is on one of a
    few grids, and projecting 1.3 M DE1200 pixels costs about as much as compressing the
    result. The arrays are read-only; copy them to change them.
    """
    x = np.ascontiguousarray(ds["x"].values, dtype=np.float64)
    y = np.ascontiguousarray(ds["y"].values, dtype=np.float64)
    name = ds["rainfall_rate"].attrs.get("grid_mapping", "crs")
    wkt = ds[name].attrs.get("crs_wkt") if name in ds else None
    # the stored WKT is the key as it is: parsing it again costs milliseconds per call
    return _latlon(wkt or dataset_crs(ds).to_wkt(), x.tobytes(), y.tobytes())


@functools.lru_cache(maxsize=4)  # about 10 MB per DE1200 grid; DWD has four grids
def _latlon(wkt: str, x: bytes, y: bytes) -> tuple[np.ndarray, np.ndarray]:
    crs = pyproj.CRS.from_wkt(wkt)
    transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xx, yy = np.meshgrid(np.frombuffer(x), np.frombuffer(y))
    lon, lat = transformer.transform(xx, yy)
    lat, lon = lat.astype(np.float32), lon.astype(np.float32)
    lat.flags.writeable = lon.flags.writeable = False
    return lat, lon


def locate(ds: xr.Dataset, lat: float, lon: float) -> tuple[int, int]:
    """Row and column of the pixel that contains (lat, lon); raises if outside the grid."""
    transformer = pyproj.Transformer.from_crs("EPSG:4326", dataset_crs(ds), always_xy=True)
    px, py = transformer.transform(lon, lat)
    x, y = ds["x"].values, ds["y"].values
    dx, dy = abs(float(x[1] - x[0])), abs(float(y[1] - y[0]))
    col = int(np.argmin(np.abs(x - px)))
    row = int(np.argmin(np.abs(y - py)))
    if abs(x[col] - px) > dx / 2 + 1e-6 or abs(y[row] - py) > dy / 2 + 1e-6:
        raise RadarError(f"({lat}, {lon}) lies outside the grid")
    return row, col


def pixel_size(ds: xr.Dataset) -> float:
    """Pixel size in metres (square pixels are assumed, as on every DWD grid)."""
    return abs(float(ds["x"].values[1] - ds["x"].values[0]))


def coarsen(ds: xr.Dataset, factor: int) -> xr.Dataset:
    """Block-mean every data variable by ``factor`` in x and y (NaN-aware; edges padded by NaN).

    A block with any valid pixel gets the mean of its valid pixels, so coverage edges do not
    eat rain; an all-NaN block stays NaN.
    """
    if factor == 1:
        return ds
    if factor < 1:
        raise ValueError("factor must be a positive integer")
    out = ds.coarsen(x=factor, y=factor, boundary="pad").mean()
    # a padded edge block would average its coordinate with NaN: place centres regularly
    for dim in ("x", "y"):
        step = float(ds[dim].values[1] - ds[dim].values[0])
        first = float(ds[dim].values[0]) + step * (factor - 1) / 2
        out[dim] = first + step * factor * np.arange(out.sizes[dim])
        out[dim].attrs = ds[dim].attrs
    return out


def _axis_weights(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper source index and float32 weight of the upper one, for each ``dst``.

    Positions beyond the outermost source centres are held at the edge (weight 0), as
    ``map_coordinates(mode="nearest")`` does.
    """
    if src.size == 1:
        zero = np.zeros(dst.size, dtype=np.intp)
        return zero, zero, np.zeros(dst.size, dtype=np.float32)
    pos = np.clip((dst - src[0]) / (src[1] - src[0]), 0, src.size - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, src.size - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def refine_array(
    values: np.ndarray, x: np.ndarray, y: np.ndarray, like_x: np.ndarray, like_y: np.ndarray
) -> np.ndarray:
    """Bilinear interpolation of ``values`` (..., y, x) on regular ``x``/``y`` onto
    ``like_x``/``like_y`` (float32 stays float32), edges held, a NaN spreads to its neighbours.

    Separable (rows, then columns) with precomputed indices and weights: about 10x faster
    than ``map_coordinates`` on a 24-frame DE1200 nowcast, and equal to it within float32
    rounding (``map_coordinates`` computes in float64).
    """
    r_lo, r_hi, wr = _axis_weights(np.asarray(y, np.float64), np.asarray(like_y, np.float64))
    c_lo, c_hi, wc = _axis_weights(np.asarray(x, np.float64), np.asarray(like_x, np.float64))
    dtype = np.result_type(values.dtype, np.float32)
    flat = values.reshape(-1, *values.shape[-2:])
    out = np.empty((flat.shape[0], r_lo.size, c_lo.size), dtype=dtype)
    wr = wr[:, None]
    # frame by frame, in place: temporaries stay a few MB instead of the whole sequence
    for k, frame in enumerate(flat):
        low = frame[r_lo].astype(dtype, copy=False)
        rows = frame[r_hi].astype(dtype)
        rows -= low
        rows *= wr
        rows += low  # low + w (high - low): bilinear along y
        left = np.take(rows, c_lo, axis=1)
        dest = out[k]
        np.take(rows, c_hi, axis=1, out=dest)
        dest -= left
        dest *= wc
        dest += left
    return out.reshape(*values.shape[:-2], r_lo.size, c_lo.size)


def refine(ds: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """Interpolate ``ds`` (a coarse grid) bilinearly onto the x/y coordinates of ``like``.

    Both grids must be regular and share the projection. Points beyond the outermost coarse
    pixel centres take the edge value, so a coarsen -> refine round trip keeps the full extent.
    A NaN pixel makes its bilinear neighbourhood NaN (no data spreads, it is not invented).
    """
    x, y = ds["x"].values, ds["y"].values
    out = xr.Dataset(
        coords={k: v for k, v in like.coords.items() if k in ("x", "y")}, attrs=ds.attrs
    )
    for coord in ds.coords:
        if coord not in ("x", "y") and not set(ds[coord].dims) & {"x", "y"}:
            out = out.assign_coords({coord: ds[coord]})
    for name, var in ds.data_vars.items():
        if var.dims[-2:] != ("y", "x"):
            out[name] = var
            continue
        fine = refine_array(var.values, x, y, like["x"].values, like["y"].values)
        out[name] = (var.dims, fine.astype(var.dtype, copy=False), var.attrs)
    return out


def pad_to_multiple(
    array: np.ndarray, multiple: int, value: float = 0.0
) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the last two axes at the bottom/right to multiples of ``multiple``.

    Returns the padded array and the original (rows, cols) to crop back to.
    """
    rows, cols = array.shape[-2:]
    pad_r = (-rows) % multiple
    pad_c = (-cols) % multiple
    if pad_r == 0 and pad_c == 0:
        return array, (rows, cols)
    widths = [(0, 0)] * (array.ndim - 2) + [(0, pad_r), (0, pad_c)]
    return np.pad(array, widths, mode="constant", constant_values=value), (rows, cols)


def edges_to_centres(first: float, step: float, count: int) -> np.ndarray:
    """Pixel-centre coordinates from the outer edge ``first`` and a signed ``step``."""
    return first + (np.arange(count) + 0.5) * step
