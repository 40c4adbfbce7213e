"""``nowcast train ...``: the same as ``python workers/train_job.py ...`` (see its --help)."""

from __future__ import annotations

import click


@click.command(
    "train",
    help="Train a model on radar archives and export it to ONNX "
    "(the options of workers/train_job.py; see nowcast train --help).",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    import logging

    from workers.train_job import main

    argv = list(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        path = main(argv)
    except SystemExit as exc:  # argparse: --help or a usage error (already printed)
        if exc.code:
            raise click.exceptions.Exit(2) from None
        return
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if path:
        click.echo(path)
