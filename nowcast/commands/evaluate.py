"""``nowcast evaluate``: skill of a model against persistence and pysteps on the same windows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the command imports numpy and xarray only when it runs
    import numpy as np
    import xarray as xr


@click.command(
    "evaluate", help="Score models (ONNX or checkpoints) and the baselines per lead time."
)
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="ONNX model or training checkpoint (.pt, exported with a parity check); repeat for "
    "several. Without it, only the baselines.",
)
@click.option(
    "--baselines",
    default="persistence,pysteps-extrapolation,pysteps-sprog",
    show_default=True,
    help="Comma-separated baselines ('' for none).",
)
@click.option(
    "--blend",
    is_flag=True,
    help="Also score '<model> + LK (50/50)' for every --model: the pixelwise mean of the "
    "model's and pysteps LK extrapolation's forecasts (each run once per window).",
)
@click.option(
    "--postprocess",
    "postprocess",
    multiple=True,
    type=click.Choice(["none", "cdf-match"]),
    help="Also score every --model with this postprocessing after the graph, as '<model> "
    "[NAME]' (repeat for several; without it each model runs as its metadata says). "
    "frame-cdf-match is part of a graph: choose it with nowcast export --postprocess.",
)
@click.option("--t-in", default=4, show_default=True, help="Input frames per window.")
@click.option("--steps", default=12, show_default=True, help="Lead times to score (frames).")
@click.option("--cadence", default=5.0, show_default=True, help="Minutes between frames.")
@click.option(
    "--as-cadence",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Feed every method the frames as if this many minutes apart (a robustness test: "
    "an archive of another cadence, e.g. BoM's 6 or 10 min, scored with a 5-min model); "
    "leads then count steps of this many minutes.",
)
@click.option("--stride", default=1, show_default=True, help="Take every n-th window.")
@click.option("--max-windows", default=0, help="Score at most this many windows (0 = all).")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("evaluation"),
    show_default=True,
    help="Folder for scores.json, scores.txt, scores.md and skill.png.",
)
@click.option(
    "--maps",
    is_flag=True,
    help="Also draw maps.png: observed and every method at a few leads for the wettest window.",
)
@click.option(
    "--probabilistic",
    is_flag=True,
    help="Score the service's exceedance probabilities of the (first) --model against a "
    "pysteps STEPS ensemble: reliability diagram, Brier skill and ROC area per lead at "
    "0.1, 1, 5 mm/h (probabilistic.md, reliability.png, bss_roc.png).",
)
@click.option("--members", default=20, show_default=True, help="--probabilistic: STEPS members.")
@click.option(
    "--fit",
    is_flag=True,
    help="--probabilistic: fit the neighbourhood's parameters on DATA instead (validation "
    "data only), writing fit.json.",
)
def command(
    data,
    models,
    baselines,
    blend,
    postprocess,
    t_in,
    steps,
    cadence,
    as_cadence,
    stride,
    max_windows,
    output,
    maps,
    probabilistic,
    members,
    fit,
) -> None:
    from models.baselines import BASELINES
    from models.evaluation import (
        add_blends,
        baseline_method,
        evaluate,
        format_table,
        save_results,
    )
    from radar.windows import Windows, index_frames

    names = [b.strip() for b in baselines.split(",") if b.strip()]
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise click.ClickException(
            f"unknown baseline {unknown[0]!r}; known: {', '.join(BASELINES)}"
        )
    if blend and not models:
        raise click.ClickException("--blend needs at least one --model")
    resolved = [Path(m).resolve() for m in models]
    if len(set(resolved)) < len(resolved):
        raise click.ClickException("the same --model is given twice")
    methods, onnx_paths = {}, []
    for path in models:
        if not str(path).endswith(".onnx"):
            path = _export_checkpoint(path, steps, output)
        onnx_paths.append(path)
        name, method = onnx_method(path)
        if name in methods:  # two runs of one recipe share a name: tell them by their files
            name = f"{name} ({Path(path).parent.name}/{Path(path).name})"
        methods[name] = method
        for choice in postprocess:
            methods[f"{name} [{choice}]"] = onnx_method(path, postprocess=choice)[1]
    model_names = list(methods)
    methods.update({name: baseline_method(name) for name in names})
    if blend:
        methods = add_blends(methods, model_names)
    if not methods:
        raise click.ClickException("nothing to evaluate: give --model or --baselines")
    windows = Windows(
        index_frames(list(data)),
        t_in=t_in,
        t_out=steps,
        cadence_minutes=cadence,
        stride=stride,
        label_cadence_minutes=as_cadence,
    )
    cadence = as_cadence or cadence  # the minutes the methods and the scores see
    if max_windows:
        windows = windows.subset(windows.times[:max_windows])
    if not len(windows):
        raise click.ClickException(f"no run of {t_in + steps} consecutive frames in the data")
    for path in onnx_paths:  # before any window is read, with the way out in the message
        _check_cadence(path, windows.labelled_times(0)[:t_in])
    if probabilistic:
        from nowcast.commands import probabilistic as prob

        if not model_names:
            raise click.ClickException("--probabilistic needs --model")
        name = model_names[0]
        if fit:
            click.echo(json.dumps(prob.fit(windows, methods[name], t_in, steps, cadence, output)))
        else:
            prob.verify(windows, methods[name], name, t_in, steps, cadence, members, output)
            click.echo((output / "probabilistic.md").read_text())
        return
    results = evaluate(windows, methods, t_in, steps, cadence)
    files = save_results(
        results,
        output,
        {
            "data": list(data),
            "windows": len(windows),
            "t_in": t_in,
            "steps": steps,
            "title": f"{len(windows)} windows",
        },
    )
    if maps:
        from models.evaluation import plot_case

        leads = tuple(sorted({max(1, steps // 4), max(1, steps // 2), steps}))
        files["maps"] = plot_case(windows, methods, t_in, leads, output / "maps.png")
    click.echo(format_table(results))
    click.echo(f"wrote {', '.join(str(f) for f in files.values())}", err=True)


def onnx_method(
    path: str | Path, device: str | None = None, postprocess: str | None = None
) -> tuple[str, Callable[[xr.Dataset, int], np.ndarray]]:
    """(model name, evaluation method) of an ONNX model, run by the workers' engine."""
    from workers.engine import Engine

    engine = Engine(path, device=device, postprocess=postprocess)
    return (
        engine.info.name,
        lambda inputs, steps: engine.predict(inputs, steps)["rainfall_rate"].values,
    )


def _check_cadence(path: str | Path, times: list) -> None:
    """Refuse a model that the input ``times`` (as the methods are fed them) cannot feed, by
    the engine's own check, naming ``--as-cadence`` where only the cadence differs."""
    from workers.catalog import FramesMismatch, read_model_info

    info = read_model_info(path)
    try:
        info.check_times(times)
    except FramesMismatch as exc:
        hint = ""
        if exc.kind == "not_consecutive":
            hint = f"; --as-cadence {info.cadence_minutes:g} feeds the frames as if they were"
        raise click.ClickException(f"{exc}{hint}") from None


def _export_checkpoint(path: str, steps: int, output: Path) -> Path:
    """A checkpoint becomes an ONNX graph that emits ``steps`` frames (parity-checked), with
    the metadata ``nowcast export`` gives it (so it runs with the postprocessing it was trained
    for)."""
    from models.export import export_checkpoint

    return export_checkpoint(path, output / f"{Path(path).stem}.onnx", steps)[0]
