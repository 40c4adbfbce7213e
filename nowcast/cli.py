"""The ``nowcast`` command line: one entry point, one module per subcommand.

Subcommands live in ``nowcast/commands/<name>.py`` and each exposes a click command called
``command``. They are imported only when used, so ``nowcast inspect`` never imports torch or
onnxruntime, and a subcommand whose optional dependency is missing fails with a clear message.
Every error a user can cause ends as one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import importlib
import sys

import click

#: name -> one-line help; the module ``nowcast.commands.<name>`` holds the command.
SUBCOMMANDS: dict[str, str] = {
    "inspect": "Product, times, grid, units and rain statistics of radar files.",
    "convert": "Read radar files and write the canonical sequence as CF-NetCDF.",
    "predict": "Nowcast from radar files without a server.",
    "serve": "Run the HTTP API (embedded default without REDIS_URL).",
    "worker": "Run a Celery worker (needs REDIS_URL).",
    "keys": "Create, list and revoke API keys of the gateway (needs REDIS_URL).",
    "train": "Train a model on radar archives (= python workers/train_job.py).",
    "export": "Export a training checkpoint to ONNX, with a parity check.",
    "evaluate": "Score a model (ONNX) and the baselines per lead time.",
    "bench": "Speed and memory figures (io, models, service).",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in SUBCOMMANDS if _module_exists(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS or not _module_exists(cmd_name):
            return None
        module = importlib.import_module(f"nowcast.commands.{cmd_name}")
        return module.command


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(f"nowcast.commands.{name}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ms-nowcast")
def cli() -> None:
    """Precipitation nowcasting from German weather radar with multi-scale RNNs."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit status 2."""
    from models.errors import ModelError
    from radar.exceptions import RadarError

    try:
        code = cli.main(args=argv, prog_name="nowcast", standalone_mode=False)
        if isinstance(code, int):  # click returns the code of an Exit raised in a command
            return code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except (RadarError, ModelError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        click.echo(f"nowcast: error: {exc}", err=True)
        return 2
    except ImportError as exc:  # an optional dependency of this subcommand is missing
        click.echo(
            f"nowcast: error: {exc} (install the extra this command needs, see README)", err=True
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
