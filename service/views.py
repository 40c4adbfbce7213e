"""service.views: the views of a stored result (the NetCDF stays the reference).

A result holds the forecast (``rainfall_rate`` per valid time) and the last observed frames
(``observed_rainfall_rate``). Frames are addressed by ``step``: 1..N are forecast leads, 0 the
last observed frame, -1 the one before, and so on. Probabilities are computed here from the
forecast (:mod:`radar.probability`), for the thresholds the client asks.

* ``json``: area statistics per valid time, the frame list and the grid (what the viewer reads);
* ``png``: a map of one frame with colour scale, borders, time and attribution;
* ``gif``: the same maps animated, observation then nowcast;
* ``layer``: one frame as a transparent palette PNG at grid resolution (the viewer's map layer);
* ``borders``: country borders (``lines``) and German state borders (``states``) in the grid's
  pixel coordinates (the viewer's overlay).
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from radar.grids import dataset_crs, pixel_size
from radar.outputs import OBSERVED
from radar.probability import DEFAULT_THRESHOLDS, exceedance

#: The rain scale (mm/h): below the first level is "no rain" (transparent), NaN "no data".
RAIN_LEVELS = (0.1, 0.5, 1, 2, 5, 10, 20, 50, 100, 400)
RAIN_COLOURS = ("#c6dbef", "#6baed6", "#2171b5", "#41ab5d", "#fed976", "#fd8d3c", "#e31a1c",
                "#800026", "#49006a")  # fmt: skip
#: The probability scale (fraction); below 5 % is transparent.
PROB_LEVELS = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0001)
PROB_COLOURS = ("#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#756bb1", "#54278f")
NO_DATA = "#8c8c8c"
BORDERS = Path(__file__).parent / "viewer" / "static" / "borders.json"
#: Borders between German states (``service/viewer/make_borders.py --states``).
STATE_BORDERS = BORDERS.with_name("states.json")


def _iso(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%MZ")


def load_result(data: bytes) -> xr.Dataset:
    """The stored NetCDF, opened lazily (one frame is one chunk: a frame view decodes one);
    encodings are dropped so that a subset or an extended copy is written afresh."""
    ds = xr.open_dataset(io.BytesIO(data), engine="h5netcdf")
    for var in ds.variables.values():
        var.encoding = {}
    return ds


def scale(layer: str) -> dict:
    """The colour scale of a layer, for legends (the viewer draws the same one)."""
    if layer == "probability":
        return {"levels": list(PROB_LEVELS[:-1]), "colours": list(PROB_COLOURS), "units": "1",
                "no_data": NO_DATA}  # fmt: skip
    return {"levels": list(RAIN_LEVELS), "colours": list(RAIN_COLOURS), "units": "mm/h",
            "no_data": NO_DATA}  # fmt: skip


def steps(ds: xr.Dataset) -> list[int]:
    """Every addressable step: observed (<= 0) then forecast (>= 1)."""
    n_obs = ds.sizes.get("observed_time", 0)
    return list(range(1 - n_obs, 1)) + list(range(1, ds.sizes["time"] + 1))


def frame(ds: xr.Dataset, step: int, layer: str = "rain", threshold: float = 1.0) -> dict:
    """One frame's values (2-D) with its valid time, kind and lead (minutes)."""
    if step not in steps(ds):
        allowed = steps(ds)
        raise ValueError(f"step must be between {allowed[0]} and {allowed[-1]} (0 = last observed)")
    ref = ds["forecast_reference_time"].values
    if step >= 1:
        values = ds["rainfall_rate"][step - 1].values
        when = ds["time"].values[step - 1]
        kind = "forecast"
    else:
        index = ds.sizes["observed_time"] - 1 + step
        values = ds[OBSERVED][index].values
        when = ds["observed_time"].values[index]
        kind = "observed"
    lead = float((when - ref) / np.timedelta64(1, "m"))
    if layer == "probability":
        if kind == "observed":  # an observation is certain: 1 where it rains, 0 where not
            values = np.where(np.isnan(values), np.nan, (values >= threshold).astype(np.float32))
        else:
            values = exceedance(values[None], [threshold], [lead], pixel_size(ds) / 1000.0)[0, 0]
    return {"values": values, "time": _iso(when), "kind": kind, "lead_minutes": lead}


def _palette(layer: str) -> tuple[tuple[float, ...], list[tuple[int, int, int]]]:
    from matplotlib.colors import to_rgb

    levels, colours = (
        (PROB_LEVELS, PROB_COLOURS) if layer == "probability" else (RAIN_LEVELS, RAIN_COLOURS)
    )
    rgb = [tuple(int(255 * c) for c in to_rgb(h)) for h in (NO_DATA, *colours)]
    return levels, rgb


def layer_png(values: np.ndarray, layer: str = "rain") -> bytes:
    """A palette PNG at grid resolution: index 0 transparent (no rain), 1 no data (grey, half
    transparent), 2.. the scale's classes. A few tens of kB and milliseconds per frame."""
    from PIL import Image

    levels, rgb = _palette(layer)
    with np.errstate(invalid="ignore"):
        classes = np.digitize(np.nan_to_num(values, nan=0.0), levels)  # 0 below the first level
    index = np.where(classes > 0, classes + 1, 0).astype(np.uint8)
    index[np.isnan(values)] = 1
    image = Image.fromarray(np.minimum(index, len(rgb)).astype(np.uint8), mode="P")
    flat = [0, 0, 0] + [v for colour in rgb for v in colour]
    image.putpalette(flat + [0] * (768 - len(flat)))
    alpha = bytes([0, 110] + [235] * (len(rgb) - 1)) + bytes(256 - len(rgb) - 1)
    buf = io.BytesIO()
    image.save(buf, format="PNG", transparency=alpha, optimize=False, compress_level=3)
    return buf.getvalue()


@functools.lru_cache(maxsize=2)
def _border_lines(path: Path) -> list[np.ndarray]:
    return [np.asarray(line) for line in json.loads(path.read_text())["lines"]]


def borders(ds: xr.Dataset, path: Path = BORDERS) -> list[list[list[float]]]:
    """Country borders (or, with ``path=STATE_BORDERS``, German state borders) as polylines in
    image coordinates of the grid (column, row; 0, 0 is the top-left corner of the top-left
    pixel), rounded to a tenth of a pixel."""
    to_grid = pyproj.Transformer.from_crs("EPSG:4326", dataset_crs(ds), always_xy=True)
    x, y = ds["x"].values, ds["y"].values
    dx, dy = float(x[1] - x[0]), float(y[0] - y[1])
    cols, rows = ds.sizes["x"], ds.sizes["y"]
    out = []
    for line in _border_lines(path):
        px, py = to_grid.transform(line[:, 0], line[:, 1])
        col = (px - x[0]) / dx + 0.5
        row = (y[0] - py) / dy + 0.5
        inside = (col > -cols * 0.1) & (col < cols * 1.1) & (row > -rows * 0.1) & (row < rows * 1.1)
        if inside.sum() >= 2:
            out.append(np.round(np.stack([col, row], axis=1), 1).tolist())
    return out


def json_view(ds: xr.Dataset) -> dict:
    """Area statistics per valid time, the addressable frames and the grid."""
    rain = ds["rainfall_rate"].values
    times = [_iso(t) for t in ds["time"].values]
    out = {
        "forecast_reference_time": _iso(ds["forecast_reference_time"].values),
        "units": "mm h-1",
        "model": ds.attrs.get("model_name"),
        "attribution": ds.attrs.get("attribution"),
        "times": times,
        "observed_times": [_iso(t) for t in ds["observed_time"].values]
        if "observed_time" in ds.coords
        else [],
        "steps": steps(ds),
        "grid": {"rows": ds.sizes["y"], "cols": ds.sizes["x"], "pixel_m": pixel_size(ds)},
        "thresholds": list(DEFAULT_THRESHOLDS),
        "scales": {layer: scale(layer) for layer in ("rain", "probability")},
    }
    with np.errstate(invalid="ignore"):
        out["frames"] = [
            {
                "time": t,
                "max": float(np.nanmax(f)) if np.isfinite(f).any() else None,
                "mean": float(np.nanmean(f)) if np.isfinite(f).any() else None,
                "wet_fraction": float((f[np.isfinite(f)] >= 0.1).mean())
                if np.isfinite(f).any()
                else None,
            }
            for t, f in zip(times, rain, strict=True)
        ]
    return out


class _MapFigure:
    """One matplotlib figure for a grid, redrawn frame by frame (PNG and GIF share it)."""

    def __init__(self, ds: xr.Dataset, layer: str):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import BoundaryNorm, ListedColormap

        self.plt, self.layer, self.ds = plt, layer, ds
        levels, colours = (
            (PROB_LEVELS, PROB_COLOURS) if layer == "probability" else (RAIN_LEVELS, RAIN_COLOURS)
        )
        cmap = ListedColormap(list(colours))
        cmap.set_under("white")
        cmap.set_bad(NO_DATA)
        rows, cols = ds.sizes["y"], ds.sizes["x"]
        self.fig, ax = plt.subplots(figsize=(6, 6 * rows / cols + 0.6))
        self.image = ax.imshow(
            np.zeros((rows, cols)), cmap=cmap, norm=BoundaryNorm(list(levels), cmap.N),
            extent=(0, cols, rows, 0), interpolation="nearest",
        )  # fmt: skip
        for line in borders(ds, STATE_BORDERS):
            xy = np.asarray(line)
            ax.plot(xy[:, 0], xy[:, 1], color="#8a8a8a", linewidth=0.35)
        for line in borders(ds):
            xy = np.asarray(line)
            ax.plot(xy[:, 0], xy[:, 1], color="#333333", linewidth=0.6)
        ax.set_xlim(0, cols)
        ax.set_ylim(rows, 0)
        label = "P(rate >= threshold)" if layer == "probability" else "mm/h"
        self.fig.colorbar(self.image, ax=ax, shrink=0.8, label=label, extend="neither")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.01, 0.01, ds.attrs.get("attribution", ""), transform=ax.transAxes, fontsize=7)
        self.title = ax.set_title("", fontsize=10)

    def render(self, shown: dict, fmt: str = "png") -> bytes:
        self.image.set_data(np.ma.masked_invalid(shown["values"]))
        kind = "observed" if shown["kind"] == "observed" else "FORECAST"
        self.title.set_text(f"{kind} {shown['time']} (lead {shown['lead_minutes']:+.0f} min)")
        buf = io.BytesIO()
        self.fig.savefig(buf, format=fmt, dpi=90)
        return buf.getvalue()

    def close(self) -> None:
        self.plt.close(self.fig)


def png_view(ds: xr.Dataset, step: int = 1, layer: str = "rain", threshold: float = 1.0) -> bytes:
    shown = frame(ds, step, layer, threshold)
    figure = _MapFigure(ds, layer)
    try:
        return figure.render(shown)
    finally:
        figure.close()


def gif_view(ds: xr.Dataset, layer: str = "rain", threshold: float = 1.0) -> bytes:
    """Every frame (observed, then forecast) as an animated GIF, half a second per frame."""
    from PIL import Image

    figure = _MapFigure(ds, layer)
    try:
        images = [
            Image.open(io.BytesIO(figure.render(frame(ds, k, layer, threshold)))).convert("RGB")
            for k in steps(ds)
        ]
    finally:
        figure.close()
    frames = [im.quantize(colors=64, method=Image.Quantize.MEDIANCUT) for im in images]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=500,
                   loop=0)  # fmt: skip
    return buf.getvalue()


def _points(lat: str, lon: str) -> list[tuple[float, float]]:
    try:
        lats = [float(v) for v in lat.split(",")]
        lons = [float(v) for v in lon.split(",")]
    except ValueError:
        raise ValueError(
            "lat and lon are numbers in degrees, comma-separated for several points"
        ) from None
    if len(lats) != len(lons) or not 1 <= len(lats) <= 50:
        raise ValueError("give as many lat as lon values (1 to 50 points)")
    if not all(-90 <= a <= 90 for a in lats) or not all(-180 <= o <= 180 for o in lons):
        raise ValueError("lat must be within [-90, 90] and lon within [-180, 180]")
    return list(zip(lats, lons, strict=True))


def _pixel_place(ds: xr.Dataset, pixel: str) -> tuple[str, str]:
    """``"row,col"`` -> the lat, lon of that pixel's centre (as query strings)."""
    from radar.grids import latlon

    try:
        row, col = (int(v) for v in pixel.split(","))
    except ValueError:
        raise ValueError("pixel is row,col (integers)") from None
    if not (0 <= row < ds.sizes["y"] and 0 <= col < ds.sizes["x"]):
        raise ValueError(f"pixel {row},{col} is outside the {ds.sizes['y']}x{ds.sizes['x']} grid")
    lat, lon = latlon(ds)
    return f"{float(lat[row, col]):.5f}", f"{float(lon[row, col]):.5f}"


def result_view(
    data: bytes,
    fmt: str,
    *,
    bbox: str | None = None,
    probability: bool = False,
    thresholds: str | None = None,
    step: int = 1,
    layer: str = "rain",
    threshold: float = 1.0,
    lat: str | None = None,
    lon: str | None = None,
    rain_threshold: float = 0.1,
    pixel: str | None = None,
) -> tuple[bytes, str, str | None]:
    """One view of a stored result: (body, media type, file extension for a download).

    Bad parameters raise ValueError (or RadarError for a place or box off the grid)."""
    import time

    from radar.netcdf import write_netcdf
    from radar.outputs import (
        add_probability,
        parse_bbox,
        point_forecast,
        subset_bbox,
        write_geotiff,
    )
    from radar.probability import parse_thresholds

    started = time.perf_counter()
    levels = parse_thresholds(thresholds)
    if fmt == "netcdf" and not (bbox or probability):
        return data, "application/x-netcdf", "nc"  # the stored bytes as they are
    ds = load_result(data)
    if bbox:
        ds = subset_bbox(ds, parse_bbox(bbox))
    if pixel is not None:  # a click on the viewer's map: the centre of that pixel
        lat, lon = _pixel_place(ds, pixel)
    if (lat is None) != (lon is None):
        raise ValueError("give both lat and lon, or neither")
    if fmt == "json" and lat is not None:
        ds = ds.drop_vars([OBSERVED], errors="ignore").load()
        answers = []
        for a, o in _points(lat, lon):
            answer = point_forecast(ds, a, o, levels, rain_threshold)
            answer["generationtime_ms"] = round((time.perf_counter() - started) * 1000, 3)
            answer["attribution"] = ds.attrs.get("attribution")
            answers.append(answer)
        body = answers[0] if len(answers) == 1 else answers  # one object, or a list (Open-Meteo)
        return json.dumps(body).encode(), "application/json", None
    if fmt == "json":
        return json.dumps(json_view(ds)).encode(), "application/json", None
    if fmt == "borders":
        body = {"lines": borders(ds), "states": borders(ds, STATE_BORDERS)}
        return json.dumps(body).encode(), "application/json", None
    if fmt == "layer":
        shown = frame(ds, step, layer, threshold)
        return layer_png(shown["values"], layer), "image/png", None
    if fmt == "png":
        return png_view(ds, step, layer, threshold), "image/png", "png"
    if fmt == "gif":
        return gif_view(ds, layer, threshold), "image/gif", "gif"
    ds = ds.load()
    if probability:
        ds = add_probability(ds, levels)
    if fmt == "geotiff":
        variable = "probability_of_exceedance" if probability else "rainfall_rate"
        return write_geotiff(ds, variable), "image/tiff", "tif"
    if fmt == "netcdf":
        return write_netcdf(ds, complevel=3), "application/x-netcdf", "nc"
    raise ValueError(f"unknown format {fmt!r}")
