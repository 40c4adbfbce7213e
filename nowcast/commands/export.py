"""``nowcast export CHECKPOINT -o MODEL.onnx``: ONNX export with a parity check."""

from __future__ import annotations

import click


@click.command("export", help="Export a training checkpoint to ONNX, with a parity check.")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="ONNX file to write."
)
@click.option(
    "--steps",
    type=int,
    default=None,
    help="forecast frames of the exported graph (default: the model's t_out)",
)
@click.option("--name", default=None, help="model name in the metadata (default: the run's)")
@click.option(
    "--postprocess",
    type=click.Choice(["none", "cdf-match", "frame-cdf-match"]),
    default=None,
    help="what workers apply after the network (metadata 'postprocess'): cdf-match gives every "
    "lead the value distribution of the last observed frame; frame-cdf-match does that inside "
    "the graph, in the last frame's frame of reference before each lead is moved to the map, "
    "as S-PROG does (cascade and lagrangian modes)  [default: what the run was trained for]",
)
@click.option(
    "--motion-grid",
    type=click.Choice(["model", "input"]),
    default=None,
    help="where workers track the motion input of an advection-aware model (metadata "
    "'motion_grid'): on the model's grid, as in training, or on the input's finer grid, then "
    "block-meaned  [default: model]",
)
@click.option(
    "--tolerance",
    type=float,
    default=1e-4,
    show_default=True,
    help="largest |onnxruntime - torch| allowed in pixel space",
)
def command(
    checkpoint: str,
    output: str,
    steps: int | None,
    name: str | None,
    postprocess: str | None,
    motion_grid: str | None,
    tolerance: float,
) -> None:
    from models.export import export_checkpoint

    if steps is not None and steps < 0:  # 0: the model's own t_out
        raise click.BadParameter("must be > 0", param_hint="--steps")
    extra = {"postprocess": postprocess} if postprocess else {}
    if motion_grid:
        extra["motion_grid"] = motion_grid
    path, worst, model = export_checkpoint(checkpoint, output, steps, name, tolerance, **extra)
    click.echo(
        f"wrote {path} ({model.config.name}, {model.config.t_in} -> "
        f"{model.config.t_out} frames, stride {model.stride}; parity {worst:.1e})"
    )
