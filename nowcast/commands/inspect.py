"""``nowcast inspect FILES...``: what is in radar files, without writing anything."""

from __future__ import annotations

import json

import click


@click.command("inspect", help="Product, times, grid, units and rain statistics of radar files.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--allow-gaps", is_flag=True, help="Accept missing frames in the sequence.")
def command(files: tuple[str, ...], as_json: bool, allow_gaps: bool) -> None:
    from radar.canonical import cadence_minutes, rain_stats
    from radar.grids import grid_name, pixel_size
    from radar.sequence import read_sequence

    ds = read_sequence(list(files), allow_gaps=allow_gaps)
    times = ds["time"].values
    info = {
        "product": ds.attrs.get("source_product"),
        "format": ds.attrs.get("source_format"),
        "frames": int(ds.sizes["time"]),
        "first_time": str(times[0])[:19] + "Z",
        "last_time": str(times[-1])[:19] + "Z",
        "cadence_minutes": cadence_minutes(ds),
        "grid": grid_name((ds.sizes["y"], ds.sizes["x"])),
        "shape": [int(ds.sizes["y"]), int(ds.sizes["x"])],
        "pixel_m": pixel_size(ds),
        "units": ds["rainfall_rate"].attrs["units"],
        "source_units": ds.attrs.get("source_units"),
        "projection": ds["crs"].attrs.get("proj4_params"),
        **rain_stats(ds),
    }
    if "forecast_reference_time" in ds.coords:
        info["forecast_reference_time"] = str(ds["forecast_reference_time"].values)[:19] + "Z"
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        click.echo(f"{key:<{width}}  {value}")
