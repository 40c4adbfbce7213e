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
    type=click.Choice(["none", "cdf-match"]),
    default=None,
    help="what workers apply after the network (metadata 'postprocess'): cdf-match gives every "
    "lead the value distribution of the last observed frame  [default: what the run was "
    "trained for]",
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
    tolerance: float,
) -> None:
    from models.checkpoint import load_checkpoint, model_from_checkpoint
    from models.export import checkpoint_metadata, export_checked

    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    if steps:
        if steps <= 0:
            raise click.BadParameter("must be > 0", param_hint="--steps")
        model.config.t_out = steps
    if name:
        model.config.name = name
    extra = {"postprocess": postprocess} if postprocess else {}
    meta = checkpoint_metadata(model, ckpt, **extra)
    path, worst = export_checked(model, output, meta, tolerance)
    click.echo(
        f"wrote {path} ({model.config.name}, {model.config.t_in} -> "
        f"{model.config.t_out} frames, stride {model.stride}; parity {worst:.1e})"
    )
