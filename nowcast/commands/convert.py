"""``nowcast convert FILES... -o OUT.nc``: any supported input -> canonical CF-NetCDF."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("convert", help="Read radar files and write the canonical sequence as CF-NetCDF.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="NetCDF file to write."
)
@click.option("--allow-gaps", is_flag=True, help="Accept missing frames in the sequence.")
@click.option("--no-latlon", is_flag=True, help="Leave out the 2-D lat/lon coordinates.")
@click.option("--keep-dbz", is_flag=True, help="Keep the dBZ field of reflectivity products.")
def command(
    files: tuple[str, ...], output: str, allow_gaps: bool, no_latlon: bool, keep_dbz: bool
) -> None:
    from radar.netcdf import write_netcdf
    from radar.sequence import read_sequence

    ds = read_sequence(list(files), allow_gaps=allow_gaps, keep_dbz=keep_dbz)
    out = Path(output)
    if out.parent and not out.parent.exists():
        raise click.ClickException(f"{out.parent}: no such folder")
    write_netcdf(ds, out, with_latlon=not no_latlon)
    size = out.stat().st_size
    click.echo(
        f"wrote {out}: {ds.sizes['time']} frames of {ds.attrs.get('source_product')} "
        f"{ds.sizes['y']}x{ds.sizes['x']}, {size / 1e6:.2f} MB",
        err=True,
    )
