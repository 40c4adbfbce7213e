"""``nowcast predict FILES... -o OUT.nc``: a nowcast without a server."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(
    "predict", help="Nowcast from radar files (or one NetCDF sequence) without a server."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="NetCDF to write."
)
@click.option(
    "--model", default=None, help="Model name or .onnx path (default: the default model)."
)
@click.option(
    "--steps", default=None, type=int, help="Frames to forecast (default: the model's t_out)."
)
@click.option("--device", default=None, help="auto, cuda or cpu (default: NOWCAST_DEVICE or auto).")
def command(
    files: tuple[str, ...], output: str, model: str | None, steps: int | None, device: str | None
) -> None:
    from radar.netcdf import write_netcdf
    from radar.sequence import read_sequence
    from workers.engine import Engine
    from workers.seam import Catalog, get_settings

    settings = get_settings()
    if model and model.endswith(".onnx"):
        path = model
    else:
        catalog = Catalog.read(settings.model_dir, settings.default_model)
        info = catalog.get(model)
        if info is None:
            raise click.ClickException(
                f"unknown model {model or catalog.default!r}; "
                f"served: {', '.join(catalog.models) or 'none'}"
            )
        path = info.path
    engine = Engine(path, device=device or settings.device)
    ds = read_sequence(list(files))
    forecast = engine.predict(ds, steps=steps)
    write_netcdf(forecast, Path(output))
    click.echo(
        f"wrote {output}: {forecast.sizes['time']} frames from {engine.info.name} "
        f"(reference {str(forecast['forecast_reference_time'].values)[:16]}Z)",
        err=True,
    )
