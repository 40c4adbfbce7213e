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
    attrs["crs_wkt"] = wkt
    attrs["spatial_ref"] = wkt  # GDAL's name for the same thing
    with warnings.catch_warnings():
        # the proj string is a convenience for humans and old tools; WKT stays authoritative
        warnings.simplefilter("ignore", UserWarning)
        attrs["proj4_params"] = crs.to_proj4()
    return tuple(attrs.items())


def dataset_crs(ds: xr.Dataset) -> pyproj.CRS:
    """The projection of a canonical dataset, from its grid-mapping variable."""
    name = ds["rainfall_rate"].attrs.get("grid_mapping", "crs")
    if name not in ds:
        raise RadarError("dataset has no grid-mapping variable")
    attrs = ds[name].attrs
    if "crs_wkt" in attrs:
        return pyproj.CRS.from_wkt(attrs["crs_wkt"])
    return pyproj.CRS.from_cf(attrs)


def latlon(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees) of every pixel centre, each shaped (y, x)."""
    transformer = pyproj.Transformer.from_crs(dataset_crs(ds), "EPSG:4326", always_xy=True)
    xx, yy = np.meshgrid(ds["x"].values, ds["y"].values)
    lon, lat = transformer.transform(xx, yy)
    return lat.astype(np.float32), lon.astype(np.float32)


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


def refine(ds: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """Interpolate ``ds`` (a coarse grid) bilinearly onto the x/y coordinates of ``like``.

    Both grids must be regular and share the projection. Points beyond the outermost coarse
    pixel centres take the edge value, so a coarsen -> refine round trip keeps the full extent.
    A NaN pixel makes its bilinear neighbourhood NaN (no data spreads, it is not invented).
    """
    from scipy.ndimage import map_coordinates

    x, y = ds["x"].values, ds["y"].values
    rows = (like["y"].values - y[0]) / (y[1] - y[0])
    cols = (like["x"].values - x[0]) / (x[1] - x[0])
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
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
        flat = var.values.reshape(-1, *var.shape[-2:])
        fine = np.stack(
            [map_coordinates(f, [rr, cc], order=1, mode="nearest") for f in flat]
        ).reshape(*var.shape[:-2], rr.shape[0], rr.shape[1])
        out[name] = (var.dims, fine.astype(var.dtype), var.attrs)
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
