"""service.views: other views of a stored result (the NetCDF stays the reference).

* ``json``: per valid time the area statistics, or with ``lat``/``lon`` the rain rate at that
  place ("will it rain here in the next N minutes");
* ``png``: a map of one lead time, with the DWD attribution when the input was DWD data.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from radar.exceptions import RadarError
from radar.grids import locate
from radar.sequence import read_sequence


def _iso(t) -> str:
    return pd.Timestamp(t).isoformat() + "Z"


def json_view(data: bytes, lat: float | None = None, lon: float | None = None) -> dict:
    ds = read_sequence(data)
    rain = ds["rainfall_rate"].values
    out = {
        "forecast_reference_time": _iso(ds["forecast_reference_time"].values),
        "units": "mm h-1",
        "model": ds.attrs.get("model_name"),
        "attribution": ds.attrs.get("attribution"),
        "times": [_iso(t) for t in ds["time"].values],
    }
    if lat is not None and lon is not None:
        try:
            row, col = locate(ds, lat, lon)
        except RadarError as exc:
            raise ValueError(str(exc)) from None
        series = rain[:, row, col]
        out["point"] = {
            "lat": lat,
            "lon": lon,
            "row": row,
            "col": col,
            "rainfall_rate": [None if np.isnan(v) else round(float(v), 2) for v in series],
        }
        return out
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
            for t, f in zip(out["times"], rain, strict=True)
        ]
    return out


def png_view(data: bytes, step: int = 1) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap

    ds = read_sequence(data)
    if not 1 <= step <= ds.sizes["time"]:
        raise ValueError(f"step must be between 1 and {ds.sizes['time']}")
    rain = ds["rainfall_rate"].values[step - 1]
    levels = [0.1, 0.5, 1, 2, 5, 10, 20, 50, 100, 400]
    cmap = ListedColormap(
        [
            "#c6dbef",
            "#6baed6",
            "#2171b5",
            "#41ab5d",
            "#fed976",
            "#fd8d3c",
            "#e31a1c",
            "#800026",
            "#49006a",
        ]
    )
    cmap.set_under("white")
    cmap.set_bad("#d9d9d9")
    fig, ax = plt.subplots(figsize=(6, 6 * rain.shape[0] / rain.shape[1] + 0.6))
    image = ax.imshow(rain, cmap=cmap, norm=BoundaryNorm(levels, cmap.N))
    fig.colorbar(image, ax=ax, shrink=0.8, label="mm/h")
    valid = _iso(ds["time"].values[step - 1])
    ax.set_title(f"+{step * 5} min, valid {valid[:16]}Z", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.01, 0.01, ds.attrs.get("attribution", ""), transform=ax.transAxes, fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
