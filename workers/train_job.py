"""Train a nowcasting network on radar archives, then export it to ONNX for the workers.

    python workers/train_job.py --data ARCHIVE [ARCHIVE ...] --out RUN_DIR [options]
    torchrun --nproc_per_node=4 workers/train_job.py ...      # several GPUs, same options

Restarting with the same ``--out`` resumes from the last checkpoint. The same entry point runs
as ``nowcast train`` and as the Celery task ``workers.tasks.training.train`` (queue ``train``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not three numbers: {text!r}") from None
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-6:
        raise argparse.ArgumentTypeError("--split needs three non-negative fractions summing to 1")
    return parts  # type: ignore[return-value]


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


_POS_INT, _POS_FLOAT = _positive(int), _positive(float)
_ARCHIVES: dict = {"nargs": "*", "metavar": "ARCHIVE"}


def _opt(flag: str, help: str, **kwargs) -> tuple[str, dict]:
    return flag, {"help": help, **kwargs}


def _options() -> dict[str, list[tuple[str, dict]]]:
    """The options by help group, as (flag, argparse keywords). The destination is the
    :class:`~models.training.TrainConfig` field of the flag's name (or ``dest``), and the
    default is that field's, so the parser and the config cannot drift apart."""
    from models.registry import VARIANTS
    from models.training import LOSSES
    from workers.engine import POSTPROCESSING

    return {
        "data": [
            _opt(
                "--data",
                "training archives: folders, globs or files of any format radar/ reads (DWD "
                "RADOLAN/ODIM, CF-NetCDF, KNMI, MeteoSwiss, FMI, BoM); several mix",
                **_ARCHIVES,
                default=[],
            ),
            _opt(
                "--val",
                "validation archives; without them --data is split by time (--split)",
                **_ARCHIVES,
            ),
            _opt(
                "--test",
                "held-out archives, never trained on (scored by nowcast evaluate)",
                **_ARCHIVES,
            ),
            _opt(
                "--split",
                "train,val,test fractions of --data, by whole runs in time order",
                type=_fractions,
                metavar="TR,VA,TE",
            ),
            _opt(
                "--synthetic",
                "add N synthetic sequences (moving, growing, decaying cells) to training",
                type=int,
                metavar="N",
            ),
            _opt(
                "--resolution-m",
                "model grid spacing in metres (frames are block-averaged to it)",
                type=_POS_FLOAT,
            ),
            _opt(
                "--cadence",
                "time step between frames; archives at other cadences give no windows",
                dest="cadence_minutes",
                type=_POS_FLOAT,
                metavar="MINUTES",
            ),
            _opt("--t-in", "input frames per forecast (the last t_in observations)", type=_POS_INT),
            _opt("--t-out", "forecast frames per training window", type=_POS_INT),
            _opt(
                "--crop",
                "square crop in model pixels (a multiple of the model's stride)",
                type=_POS_INT,
            ),
            _opt(
                "--no-augment",
                "disable random flips and 90-degree rotations",
                dest="augment",
                action="store_false",
            ),
        ],
        "model": [
            _opt("--model", "registry variant", choices=sorted(VARIANTS)),
            _opt("--name", "model name in the ONNX metadata and file name (default: --model)"),
            _opt("--hidden", "channels of every layer", type=_POS_INT),
            _opt("--layers", "recurrent layers (the MS pyramid needs 6)", type=_POS_INT),
            _opt("--kernel", "convolution kernel size", type=_POS_INT),
            _opt("--patch", "space-to-depth patch size (1 = the papers' setting)", type=_POS_INT),
            _opt(
                "--advection",
                "advection-aware mode around the network (models/advection.py): none (the papers' "
                "plain network), lagrangian (forecast in the frame moving with the rain), "
                "residual (correct the extrapolation of the last frame), cascade (lagrangian, "
                "correcting S-PROG's scale-by-scale AR(2) forecast made in that frame)",
                choices=("none", "lagrangian", "residual", "cascade"),
            ),
            _opt("--motion-method", "radar.motion method of the motion input"),
            _opt(
                "--motion-frames", "latest input frames the motion is estimated from", type=_POS_INT
            ),
            _opt(
                "--motion-coarsen",
                "estimate motion on blocks of this many model pixels (faster, smooth fields)",
                type=_POS_INT,
            ),
            _opt(
                "--motion-interp-step",
                "interpolate the tracked motion vectors on every n-th pixel and refine "
                "bilinearly (as fast as --motion-coarsen 2, nearly the detail of 1)",
                type=_POS_INT,
            ),
        ],
        "optimisation": [
            _opt("--batch", "windows per step (per GPU)", type=_POS_INT),
            _opt("--epochs", "passes of --items-per-epoch windows each", type=_POS_INT),
            _opt("--items-per-epoch", "random training windows drawn per epoch", type=_POS_INT),
            _opt("--lr", "Adam learning rate", type=_POS_FLOAT),
            _opt(
                "--lr-schedule",
                "learning-rate schedule over the run",
                choices=("constant", "cosine"),
            ),
            _opt(
                "--loss",
                "the papers' MSE + MAE, the same weighted by observed rate as B-MSE (1, 2, 5, "
                "10, 30 at 2, 5, 10, 30 mm/h), or that plus a soft CSI at 0.5-10 mm/h",
                choices=LOSSES,
            ),
            _opt(
                "--freeze-network",
                "train only the advection wrapper's own parameters (the cascade's level "
                "fading); the network keeps its initial weights",
                action="store_true",
            ),
            _opt(
                "--postprocess",
                "what workers apply after the network (model metadata), or frame-cdf-match: "
                "the same matching inside the graph, before each lead is moved to the map "
                "(Lagrangian-frame modes); either also makes the loss's CSI term score the "
                "forecast as matched to the last input frame",
                choices=POSTPROCESSING,
            ),
            _opt(
                "--sampling",
                "scheduled sampling: linear decay of the truth probability, PredRNN-V2's reverse "
                "schedule, or none; auto = reverse for predrnn-v2, else linear",
                choices=("auto", "linear", "reverse", "none"),
            ),
            _opt("--decouple-weight", "weight of PredRNN-V2's decoupling loss", type=float),
            _opt(
                "--amp",
                "mixed precision on CUDA (bf16 where supported, else fp16 with scaling)",
                action="store_true",
            ),
            _opt("--seed", "seed of weights, windows and sampling", type=int),
        ],
        "run": [
            _opt(
                "--out",
                "checkpoints, config.json, metrics.jsonl; an existing run here resumes",
                required=True,
                metavar="RUN_DIR",
            ),
            _opt("--device", "auto (CUDA when available), cpu, cuda or cuda:N"),
            _opt(
                "--checkpoint-every",
                "write last.pt every STEPS optimizer steps (and at each epoch's end)",
                type=int,
                metavar="STEPS",
            ),
            _opt(
                "--keep-epochs",
                "also write epoch-NNN.pt after every epoch (weights, scores, config), to choose "
                "by full-grid skill afterwards with nowcast evaluate",
                action="store_true",
            ),
            _opt("--val-items", "validation windows scored after each epoch", type=_POS_INT),
            _opt("--loader-workers", "DataLoader worker processes", type=int),
            _opt("--model-dir", "also copy the exported ONNX here (the folder workers serve)"),
            _opt(
                "--export-steps",
                "forecast frames of the exported graph (default --t-out)",
                type=int,
            ),
            _opt(
                "--init-from",
                "start from this checkpoint's weights (fine-tuning; same network required); "
                "ignored when the run folder already has a last.pt to resume",
                metavar="CHECKPOINT",
            ),
            _opt(
                "--cache-dir",
                "folder for decoded archives and motion fields, shared by runs (default: the run "
                "folder)",
            ),
            _opt(
                "--max-steps",
                "stop after this many steps in total (the run stays resumable)",
                type=int,
            ),
            _opt(
                "--no-progress",
                "no progress bar (logs still give one line per epoch)",
                dest="progress",
                action="store_false",
            ),
        ],
    }


def build_parser() -> argparse.ArgumentParser:
    from dataclasses import MISSING, fields

    from models.training import TrainConfig

    defaults = {}
    for f in fields(TrainConfig):
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
    p = argparse.ArgumentParser(
        prog="train_job.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for group, options in _options().items():
        g = p.add_argument_group(group)
        for flag, kwargs in options:
            dest = kwargs.get("dest") or flag[2:].replace("-", "_")
            kwargs.setdefault("default", defaults.get(dest))
            if kwargs["default"] is None:
                del kwargs["default"]  # argparse's own None, without "(default: None)" noise
            g.add_argument(flag, **kwargs)
    return p


def main(argv: list[str] | None = None) -> Path | None:
    """Parse ``argv``, train, export; returns the ONNX path (None on non-zero ranks)."""
    args = build_parser().parse_args(argv)
    from models.training import TrainConfig, train

    return train(TrainConfig(**vars(args)))  # every option is a TrainConfig field


def cli() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from radar.exceptions import RadarError

    try:
        path = main()
    except (ValueError, RadarError, FileNotFoundError) as exc:
        print(f"train_job: error: {exc}", file=sys.stderr)
        return 2
    if path:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
