"""``nowcast bench ...``: speed and memory figures, printed as tables (and JSON on request).

Benchmarks report what they measured on this machine; they assert nothing. Targets (such as
under 0.2 s to read a frame) are for the reader of the table to compare against.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import click

DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@click.group("bench", help="Speed and memory figures (io, models, service).")
def command() -> None:
    pass


def _time(fn, repeat: int) -> list[float]:
    fn()  # warm-up: imports, caches
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


@command.command("io", help="Seconds to read one frame of each DWD format (target < 0.2 s).")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_SHARED,
    show_default=True,
    help="The shared data folder.",
)
@click.option("--repeat", default=10, show_default=True, help="Timed reads per file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench_io(data: Path, repeat: int, as_json: bool) -> None:
    from radar.netcdf import write_netcdf
    from radar.sequence import read_sequence

    cases = {
        "ODIM_H5 RY DE1200 1200x1100": data / "dwd/odim_ry/20250604_1630_RY.h5",
        "RADOLAN RY 900x900 (.gz)": data
        / "dwd/radolan_to_netcdf/radolan_ry/raa01-ry_10000-2001011500-dwd---bin.gz",
        "RADOLAN RX 900x900 (.gz, dBZ)": data
        / "dwd/wradlib-data/radolan/showcase/raa01-rx_10000-1408102050-dwd---bin.gz",
        "RADVOR RV DE1200 25 members (.tar.bz2)": data
        / "dwd/dwd_utils/DE1200_RV2506151820.tar.bz2",
    }
    missing = [str(p) for p in cases.values() if not p.exists()]
    if missing:
        raise click.ClickException(f"sample data not found: {missing[0]} (use --data)")
    rows = []
    for label, path in cases.items():
        reps = max(1, repeat // 5) if "25 members" in label else repeat
        times = _time(lambda p=path: read_sequence(p), reps)
        rows.append(
            {
                "case": f"read {label}",
                "median_s": statistics.median(times),
                "min_s": min(times),
                "n": reps,
            }
        )
    rv = read_sequence(cases["RADVOR RV DE1200 25 members (.tar.bz2)"])
    times = _time(lambda: write_netcdf(rv), 2)
    rows.append(
        {
            "case": "write NetCDF 25 x DE1200 (with lat/lon)",
            "median_s": statistics.median(times),
            "min_s": min(times),
            "n": 2,
        }
    )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'case':<52} {'median s':>9} {'min s':>8} {'n':>3}")
    for row in rows:
        click.echo(f"{row['case']:<52} {row['median_s']:>9.3f} {row['min_s']:>8.3f} {row['n']:>3}")
