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


def build_parser() -> argparse.ArgumentParser:
    from models.registry import VARIANTS

    p = argparse.ArgumentParser(
        prog="train_job.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = p.add_argument_group("data")
    d.add_argument(
        "--data",
        nargs="*",
        default=[],
        metavar="ARCHIVE",
        help="training archives: folders, globs or files of any format radar/ reads "
        "(DWD RADOLAN/ODIM, CF-NetCDF, KNMI, MeteoSwiss, FMI, BoM); several mix",
    )
    d.add_argument(
        "--val",
        nargs="*",
        default=[],
        metavar="ARCHIVE",
        help="validation archives; without them --data is split by time (--split)",
    )
    d.add_argument(
        "--test",
        nargs="*",
        default=[],
        metavar="ARCHIVE",
        help="held-out archives, never trained on (scored by nowcast evaluate)",
    )
    d.add_argument(
        "--split",
        type=_fractions,
        default=(0.8, 0.1, 0.1),
        metavar="TR,VA,TE",
        help="train,val,test fractions of --data, by whole runs in time order",
    )
    d.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="add N synthetic sequences (moving, growing, decaying cells) to training",
    )
    d.add_argument(
        "--resolution-m",
        type=_positive(float),
        default=1000.0,
        help="model grid spacing in metres (frames are block-averaged to it)",
    )
    d.add_argument(
        "--cadence",
        dest="cadence_minutes",
        type=_positive(float),
        default=5.0,
        metavar="MINUTES",
        help="time step between frames; archives at other cadences give no windows",
    )
    d.add_argument(
        "--t-in",
        type=_positive(int),
        default=5,
        help="input frames per forecast (the last t_in observations)",
    )
    d.add_argument(
        "--t-out", type=_positive(int), default=5, help="forecast frames per training window"
    )
    d.add_argument(
        "--crop",
        type=_positive(int),
        default=128,
        help="square crop in model pixels (a multiple of the model's stride)",
    )
    d.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="disable random flips and 90-degree rotations",
    )

    m = p.add_argument_group("model")
    m.add_argument(
        "--model", default="ms-convlstm", choices=sorted(VARIANTS), help="registry variant"
    )
    m.add_argument(
        "--name",
        default=None,
        help="model name in the ONNX metadata and file name (default: --model)",
    )
    m.add_argument("--hidden", type=_positive(int), default=64, help="channels of every layer")
    m.add_argument(
        "--layers", type=_positive(int), default=6, help="recurrent layers (the MS pyramid needs 6)"
    )
    m.add_argument("--kernel", type=_positive(int), default=3, help="convolution kernel size")
    m.add_argument(
        "--patch",
        type=_positive(int),
        default=1,
        help="space-to-depth patch size (1 = the papers' setting)",
    )

    m.add_argument(
        "--advection",
        choices=("none", "lagrangian", "residual"),
        default="none",
        help="advection-aware mode around the network (models/advection.py): none (the "
        "papers' plain network), lagrangian (forecast in the frame moving with the rain), "
        "residual (correct the extrapolation of the last frame)",
    )
    m.add_argument("--motion-method", default="lk", help="radar.motion method of the motion input")
    m.add_argument(
        "--motion-frames",
        type=_positive(int),
        default=3,
        help="latest input frames the motion is estimated from",
    )
    m.add_argument(
        "--motion-coarsen",
        type=_positive(int),
        default=2,
        help="estimate motion on blocks of this many model pixels (faster, smooth fields)",
    )
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch", type=_positive(int), default=4, help="windows per step (per GPU)")
    o.add_argument(
        "--epochs", type=_positive(int), default=16, help="passes of --items-per-epoch windows each"
    )
    o.add_argument(
        "--items-per-epoch",
        type=_positive(int),
        default=512,
        help="random training windows drawn per epoch",
    )
    o.add_argument("--lr", type=_positive(float), default=3e-4, help="Adam learning rate")
    o.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="learning-rate schedule over the run",
    )
    o.add_argument(
        "--loss",
        choices=("mse+mae", "balanced"),
        default="mse+mae",
        help="the papers' MSE + MAE, or the same weighted by observed rate as B-MSE "
        "(1, 2, 5, 10, 30 at 2, 5, 10, 30 mm/h)",
    )
    o.add_argument(
        "--sampling",
        choices=("auto", "linear", "reverse", "none"),
        default="auto",
        help="scheduled sampling: linear decay of the truth probability, PredRNN-V2's "
        "reverse schedule, or none; auto = reverse for predrnn-v2, else linear",
    )
    o.add_argument(
        "--decouple-weight", type=float, default=0.01, help="weight of PredRNN-V2's decoupling loss"
    )
    o.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision on CUDA (bf16 where supported, else fp16 with scaling)",
    )
    o.add_argument("--seed", type=int, default=0, help="seed of weights, windows and sampling")

    r = p.add_argument_group("run")
    r.add_argument(
        "--out",
        required=True,
        metavar="RUN_DIR",
        help="checkpoints, config.json, metrics.jsonl; an existing run here resumes",
    )
    r.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N"
    )
    r.add_argument(
        "--checkpoint-every",
        type=int,
        default=50,
        metavar="STEPS",
        help="write last.pt every STEPS optimizer steps (and at each epoch's end)",
    )
    r.add_argument(
        "--val-items",
        type=_positive(int),
        default=64,
        help="validation windows scored after each epoch",
    )
    r.add_argument("--loader-workers", type=int, default=0, help="DataLoader worker processes")
    r.add_argument(
        "--model-dir",
        default=None,
        help="also copy the exported ONNX here (the folder workers serve)",
    )
    r.add_argument(
        "--export-steps",
        type=int,
        default=None,
        help="forecast frames of the exported graph (default --t-out)",
    )
    r.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="start from this checkpoint's weights (fine-tuning; same network required); "
        "ignored when the run folder already has a last.pt to resume",
    )
    r.add_argument(
        "--cache-dir",
        default=None,
        help="folder for decoded archives and motion fields, shared by runs "
        "(default: the run folder)",
    )
    r.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop after this many steps in total (the run stays resumable)",
    )
    r.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (logs still give one line per epoch)",
    )
    return p


def main(argv: list[str] | None = None) -> Path | None:
    """Parse ``argv``, train, export; returns the ONNX path (None on non-zero ranks)."""
    args = build_parser().parse_args(argv)
    from dataclasses import fields

    from models.training import TrainConfig, train

    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in known})
    return train(cfg)


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
