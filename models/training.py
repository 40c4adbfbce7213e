"""models.training: the training loop behind ``workers/train_job.py`` (REFERENCE.md §4 recipe).

- Loss: MSE + MAE summed over pixels, averaged over time and batch, on every emitted frame
  (input-period one-step predictions included), plus PredRNN-V2's decoupling loss.
- Scheduled sampling (linear decay of the truth probability over the run) or PredRNN-V2's
  reverse scheduled sampling; validation is fully autoregressive, as inference.
- Checkpoints: ``last.pt`` every ``checkpoint_every`` steps and at each epoch's end, ``best.pt``
  on the best validation score, ``config.json`` beside them, ``metrics.jsonl`` one line per
  epoch; with ``keep_epochs`` also ``epoch-NNN.pt`` after every epoch, so that checkpoints can
  be chosen by full-grid skill afterwards (the crop loss picks poorly; ``nowcast evaluate``
  takes one ``--model`` per checkpoint). A run restarted on the same folder resumes from
  ``last.pt`` exactly (same step, same optimizer state, same next batch: training items are a
  pure function of seed, epoch, index).
- Distributed: under ``torchrun`` (WORLD_SIZE > 1) the model is wrapped in
  DistributedDataParallel and each rank takes every WORLD_SIZE-th item; rank 0 writes files.
- The end: the best checkpoint is exported to ONNX, parity-checked, with its validation scores
  in the metadata, into the folder of models that workers serve.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from models.data import (
    PixelSequence,
    WindowDataset,
    attach_motion,
    load_sequences,
    split_sequences,
)
from models.export import FRAME_MATCH, checkpoint_metadata, export_checked
from models.metrics import BALANCE_EDGES, BALANCE_WEIGHTS
from models.network import Nowcaster
from models.registry import VARIANTS, build
from radar.transforms import DBZ_RANGE, rain_to_pixel

log = logging.getLogger("nowcast.train")


@dataclass
class TrainConfig:
    """Every knob of a training run (saved as ``config.json`` beside the checkpoints)."""

    data: list[str]
    out: str
    model: str = "ms-convlstm"
    name: str | None = None
    val: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    synthetic: int = 0
    hidden: int = 64
    layers: int = 6
    kernel: int = 3
    patch: int = 1
    resolution_m: float = 1000.0
    cadence_minutes: float = 5.0
    t_in: int = 5
    t_out: int = 5
    crop: int = 128
    batch: int = 4
    epochs: int = 16
    items_per_epoch: int = 512
    lr: float = 3e-4
    lr_schedule: str = "constant"
    loss: str = "mse+mae"
    # what workers apply after the network (ONNX metadata); under cdf-match the CSI term of
    # the loss scores the forecast as it will be matched to the last input frame
    postprocess: str = "none"
    sampling: str = "auto"  # linear | reverse | none | auto (reverse for predrnn-v2)
    decouple_weight: float = 0.01
    augment: bool = True
    amp: bool = False
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 50
    loader_workers: int = 0
    val_items: int = 64
    model_dir: str | None = None
    export_steps: int | None = None
    progress: bool = True
    max_steps: int | None = None  # stop early (smoke tests); the run stays resumable
    keep_epochs: bool = False  # also write epoch-NNN.pt after every epoch
    init_from: str | None = None  # warm start: weights of another run's checkpoint
    # train only the advection wrapper's own parameters (the cascade's level fading): the
    # network stays as initialised
    freeze_network: bool = False
    advection: str = "none"  # none or a mode of models.advection.MODES
    motion_method: str = "lk"
    motion_frames: int = 3
    motion_coarsen: int = 2
    motion_interp_step: int = 1
    cache_dir: str | None = None  # decoded archives and motion (default: the run folder)

    @property
    def run_name(self) -> str:
        return self.name or self.model

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


# --------------------------------------------------------------------------------------------
# device, distribution


def choose_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked but CUDA is not available")
    return device


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(dist.get_rank(), world, local_rank)


# --------------------------------------------------------------------------------------------
# data


def _cache_key(sources: list[str], cfg: TrainConfig) -> str:
    text = json.dumps([sorted(sources), cfg.resolution_m, cfg.cadence_minutes])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def load_archives(
    sources: list[str], cfg: TrainConfig, cache_dir: Path | None
) -> list[PixelSequence]:
    """Decode archives once; a cache in the run folder makes restarts fast."""
    if not sources:
        return []
    cache = cache_dir / f"data-{_cache_key(sources, cfg)}.npz" if cache_dir else None
    if cache and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            names = json.loads(str(z["names"]))
            return [PixelSequence(n, _times(z[f"t{i}"]), z[f"p{i}"]) for i, n in enumerate(names)]
    seqs: list[PixelSequence] = []
    for source in sources:
        found = load_sequences(
            source, cfg.resolution_m, cfg.cadence_minutes, progress=lambda m: log.info("data %s", m)
        )
        if not found:
            raise ValueError(
                f"{source}: no consecutive radar frames at {cfg.cadence_minutes:g}-minute cadence"
            )
        seqs.extend(found)
    if cache:
        arrays = {f"p{i}": s.pixels for i, s in enumerate(seqs)}
        arrays.update({f"t{i}": s.times.values.astype("int64") for i, s in enumerate(seqs)})
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, names=json.dumps([s.name for s in seqs]), **arrays)
        os.replace(tmp, cache)
    return seqs


def add_motion(seqs: list[PixelSequence], cfg: TrainConfig, cache_dir: Path | None) -> None:
    """Attach motion fields (:func:`models.data.attach_motion`), cached beside the data."""
    if not seqs:
        return
    text = json.dumps(
        [[s.name, str(s.times[0]), len(s)] for s in seqs]
        + [cfg.resolution_m, cfg.motion_method, cfg.motion_frames, cfg.motion_coarsen]
        + ([cfg.motion_interp_step] if cfg.motion_interp_step > 1 else [])  # old keys stay valid
    )
    key = hashlib.sha1(text.encode()).hexdigest()[:16]
    cache = cache_dir / f"motion-{key}.npz" if cache_dir else None
    if cache and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            for i, seq in enumerate(seqs):
                seq.motion = z[f"m{i}"]
        return
    attach_motion(
        seqs,
        cfg.motion_method,
        cfg.motion_frames,
        cfg.motion_coarsen,
        cfg.motion_interp_step,
        progress=lambda m: log.info("motion %s", m),
    )
    if cache:
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, **{f"m{i}": s.motion for i, s in enumerate(seqs)})
        os.replace(tmp, cache)


def _times(values: np.ndarray):
    import pandas as pd

    return pd.DatetimeIndex(values.astype("datetime64[ns]"))


def synthetic_sequences(count: int, cfg: TrainConfig) -> list[PixelSequence]:
    """Advected, growing and decaying synthetic cells at the model's resolution."""
    import pandas as pd

    from radar.synthetic import synthetic_sequence

    size = max(cfg.crop, 64)
    length = max(3 * (cfg.t_in + cfg.t_out), 24)
    out = []
    rng = np.random.default_rng(cfg.seed)
    for k in range(count):
        velocity = tuple(rng.uniform(-2, 2, 2).round(2))
        ds = synthetic_sequence(
            frames=length,
            height=size,
            width=size,
            seed=1000 + k,
            velocity=velocity,
            pixel_m=cfg.resolution_m,
            start=f"2000-01-{1 + k % 28:02d}T00:00",
        )
        pixels = rain_to_pixel(np.nan_to_num(ds["rainfall_rate"].values))
        out.append(
            PixelSequence(
                f"synthetic{k}",
                pd.DatetimeIndex(ds["time"].values),
                np.round(pixels * 255).astype(np.uint8),
            )
        )
    return out


def prepare_data(cfg: TrainConfig, run: Path | None) -> dict[str, list[PixelSequence]]:
    """Train / val / test sequences; explicit ``val``/``test`` archives or a split by time."""
    if run is not None and cfg.cache_dir:
        run = Path(cfg.cache_dir)
        run.mkdir(parents=True, exist_ok=True)
    # synthetic runs are dated 2000, so a split by time keeps them in training next to real data
    pooled = load_archives(cfg.data, cfg, run) + synthetic_sequences(cfg.synthetic, cfg)
    if not pooled:
        raise ValueError("no training data: give --data archives and/or --synthetic N")
    if cfg.val:
        splits = {"train": pooled, "val": load_archives(cfg.val, cfg, run), "test": []}
    else:
        splits = split_sequences(pooled, tuple(cfg.split))
    if cfg.test:
        splits["test"] = splits["test"] + load_archives(cfg.test, cfg, run)
    length = cfg.t_in + cfg.t_out
    for split in ("train", "val"):
        if not any(len(s) >= length for s in splits[split]):
            raise ValueError(
                f"no {split} sequence holds {length} consecutive frames "
                f"(t_in {cfg.t_in} + t_out {cfg.t_out}); give more data or --val archives"
            )
        if cfg.advection != "none":
            add_motion([s for s in splits[split] if len(s) >= length], cfg, run)
    return splits


# --------------------------------------------------------------------------------------------
# recipe


LOSSES = ("mse+mae", "balanced", "balanced+csi")
#: rain rates (mm/h) whose exceedance the soft-CSI term scores, and its sigmoid's width (dB)
CSI_THRESHOLDS = (0.5, 1.0, 2.0, 5.0, 10.0)
CSI_SOFTNESS_DB = 2.0
_CSI_PIXELS = rain_to_pixel(np.asarray(CSI_THRESHOLDS, dtype=np.float32))  # the same, as pixels
#: weight of (1 - soft CSI) per pixel of a frame, against the balanced error summed over them
CSI_WEIGHT = 1.0


def balance_weights(truth: torch.Tensor) -> torch.Tensor:
    """The B-MSE weights of :mod:`models.metrics` (1, 2, 5, 10, 30 by observed rate), for pixels."""
    edges = torch.as_tensor(rain_to_pixel(np.asarray(BALANCE_EDGES)), dtype=truth.dtype)
    weights = torch.as_tensor(BALANCE_WEIGHTS, dtype=truth.dtype, device=truth.device)
    return weights[torch.bucketize(truth.contiguous(), edges.to(truth.device), right=True)]


def matched_levels(pred: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """[T, B, S, 1, 1, 1] forecast pixel values that play the thresholds after distribution
    matching: for threshold k, the value above which ``pred`` [B, S, 1, H, W] has as many
    pixels as ``reference`` [B, 1, H, W] has above the threshold (+inf where it has none).
    The workers' ``cdf-match`` gives every forecast pixel the reference value of its rank, so
    a pixel ends above threshold k exactly when it lies above this level; no gradient."""
    levels = torch.as_tensor(_CSI_PIXELS, device=pred.device)
    flat = pred.detach().flatten(2)  # [B, S, H W]
    ranked = flat.sort(dim=2, descending=True).values
    counts = (reference.flatten(1).unsqueeze(0) >= levels.view(-1, 1, 1)).sum(2)  # [T, B]
    index = (counts - 1).clamp(min=0).view(len(levels), -1, 1, 1).expand(-1, -1, flat.shape[1], 1)
    picked = torch.gather(ranked.unsqueeze(0).expand(len(levels), -1, -1, -1), 3, index)
    picked = torch.where(counts.view(len(levels), -1, 1, 1) > 0, picked, torch.inf)
    return picked.view(len(levels), *pred.shape[:2], 1, 1, 1)


def soft_csi(
    pred: torch.Tensor,
    truth: torch.Tensor,
    mask: torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """[S] critical success index of every step of [B, S, 1, H, W] pixels, pooled over batch
    and space, averaged over :data:`CSI_THRESHOLDS`; a forecast pixel counts as "above" by a
    sigmoid of its distance to the threshold, so that the index has gradients. With
    ``reference`` [B, 1, H, W] (the last observed frame) the forecast is scored as it will be
    after distribution matching to it: against :func:`matched_levels` instead of the
    thresholds."""
    levels = torch.as_tensor(_CSI_PIXELS, dtype=pred.dtype, device=pred.device)
    levels = levels.view(-1, 1, 1, 1, 1, 1)
    cut = levels if reference is None else matched_levels(pred, reference)
    width = CSI_SOFTNESS_DB / DBZ_RANGE
    above = torch.sigmoid((pred.unsqueeze(0) - cut) / width)
    observed = (truth.unsqueeze(0) >= levels).to(pred.dtype)
    if mask is not None:
        above, observed = above * mask, observed * mask
    space = (1, 3, 4, 5)  # batch and pixels; thresholds and steps stay
    hits = (above * observed).sum(space)
    union = above.sum(space) + observed.sum(space) - hits
    return ((hits + 1) / (union + 1)).mean(0)  # +1: a dry step forecast dry scores 1


def sequence_loss(
    pred: torch.Tensor,
    truth: torch.Tensor,
    kind: str = "mse+mae",
    mask: torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE + MAE summed over pixels, averaged over time and batch (REFERENCE.md §4).

    ``balanced`` weighs each pixel by its observed rate as B-MSE/B-MAE do, a knob against the
    MSE-trained network's habit of washing out heavy rain. ``balanced+csi`` adds
    :data:`CSI_WEIGHT` x pixels x (1 - :func:`soft_csi`), scored after distribution matching
    to ``reference`` when given: the error alone is smallest for a blurred forecast, whose
    rain areas, once matched, are not the ones the categorical scores users read need.
    ``mask`` (0/1 like ``pred``) leaves out pixels no forecast can know (rain advected in from
    outside the crop).
    """
    diff = pred - truth
    err = diff.pow(2) + diff.abs()
    if kind in ("balanced", "balanced+csi"):
        err = err * balance_weights(truth)
    elif kind != "mse+mae":
        raise ValueError(f"unknown loss {kind!r}; known: {', '.join(LOSSES)}")
    if mask is not None:
        err = err * mask
    loss = err.flatten(2).sum(2).mean()
    if kind == "balanced+csi":
        pixels = pred.shape[-1] * pred.shape[-2]
        loss = loss + CSI_WEIGHT * pixels * (1 - soft_csi(pred, truth, mask, reference)).mean()
    return loss


def match_reference(cfg: TrainConfig, seq: torch.Tensor) -> torch.Tensor | None:
    """The frame the forecast of a window ``seq`` [B, S, 1, H, W] will be distribution-matched
    to (its last input) when the model is served with ``cdf-match``; else None."""
    return seq[:, cfg.t_in - 1] if cfg.postprocess in ("cdf-match", FRAME_MATCH) else None


def truth_mask(
    cfg: TrainConfig, batch: int, step: int, total_steps: int, epoch: int, gen: torch.Generator
) -> torch.Tensor:
    """[batch, S-1]: 1 where the observed frame is fed at that step, 0 for the prediction."""
    steps = cfg.t_in + cfg.t_out - 1
    mode = cfg.sampling
    if mode == "auto":
        mode = "reverse" if VARIANTS[cfg.model][0] == "predrnn-v2" else "linear"
    p_enc, p_fc = 1.0, 0.0
    if mode == "linear":
        p_fc = max(0.0, 1.0 - step / max(total_steps, 1))
    elif mode == "reverse":  # PredRNN-V2: epoch-based, E/3 .. 2E/3
        a, b = cfg.epochs / 3, 2 * cfg.epochs / 3
        frac = min(max((epoch - a) / max(b - a, 1e-9), 0.0), 1.0)
        p_enc, p_fc = 0.5 + 0.5 * frac, 0.5 - 0.5 * frac
    elif mode != "none":
        raise ValueError(f"unknown sampling {cfg.sampling!r}")
    prob = torch.full((batch, steps), p_fc)
    prob[:, : cfg.t_in] = p_enc
    mask = (torch.rand(batch, steps, generator=gen) < prob).float()
    mask[:, 0] = 1.0
    return mask


def warm_start(model: Nowcaster, checkpoint: str) -> None:
    """Load another run's weights (fine-tuning); the architectures must be the same."""
    source = load_checkpoint(checkpoint)["config"]
    keys = ("arch", "multiscale", "hidden", "layers", "kernel", "patch", "advection")
    source.setdefault("advection", "none")  # checkpoints from before the advection modes
    differ = [k for k in keys if source.get(k) != getattr(model.config, k)]
    if differ:
        raise ValueError(
            f"--init-from {checkpoint}: a different network ("
            + ", ".join(f"{k} {source.get(k)} != {getattr(model.config, k)}" for k in differ)
            + ")"
        )
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
    log.info("initialised from %s", checkpoint)


def learning_rate(cfg: TrainConfig, step: int, total_steps: int) -> float:
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(step / max(total_steps, 1), 1.0)))
    return cfg.lr


def _unpack(batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A loader batch -> (windows, motion or None) on ``device``."""
    if isinstance(batch, list | tuple):
        return batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    return batch.to(device, non_blocking=True), None


@torch.no_grad()
def validate(model: Nowcaster, loader, cfg: TrainConfig, device: torch.device) -> dict:
    """Fully autoregressive scores on the validation windows, forecast frames only."""
    model.eval()
    wet = float(rain_to_pixel(np.array(1.0)))
    n = 0
    totals = {"loss": 0.0, "mse": 0.0, "mae": 0.0}
    hits = misses = false_alarms = 0.0
    for batch in loader:
        seq, motion = _unpack(batch, device)
        truth = seq[:, cfg.t_in :]
        if motion is None:
            pred = model.forecast(seq[:, : cfg.t_in], steps=cfg.t_out)
            mask = torch.ones_like(truth)
        else:
            pred = model.forecast(seq[:, : cfg.t_in], motion, steps=cfg.t_out)
            mask = model.loss_mask(motion, seq.shape[1])[:, cfg.t_in - 1 :]
        b = seq.shape[0]
        pixels = float(mask.sum()) or 1.0
        loss = sequence_loss(pred, truth, cfg.loss, mask, match_reference(cfg, seq))
        totals["loss"] += float(loss) * b
        totals["mse"] += float(((pred - truth) ** 2 * mask).sum()) / pixels * b
        totals["mae"] += float(((pred - truth).abs() * mask).sum()) / pixels * b
        p, o = (pred >= wet) & (mask > 0), (truth >= wet) & (mask > 0)
        hits += float((p & o).sum())
        misses += float((~p & o).sum())
        false_alarms += float((p & ~o).sum())
        n += b
    model.train()
    scores = {f"val_{k}": v / max(n, 1) for k, v in totals.items()}
    denom = hits + misses + false_alarms
    scores["val_csi_1mmh"] = hits / denom if denom else float("nan")
    scores["val_windows"] = n
    return scores


# --------------------------------------------------------------------------------------------
# the run


def _rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, dynamic_ncols=True)


def train(cfg: TrainConfig, report: Callable[[dict], None] | None = None) -> Path | None:
    """Train (or resume) the run in ``cfg.out``; returns the exported ONNX path (rank 0)."""
    if not cfg.data and not cfg.synthetic:
        raise ValueError("no training data: give --data archives and/or --synthetic N")
    if cfg.model not in VARIANTS:
        raise ValueError(f"unknown model {cfg.model!r}; known: {', '.join(VARIANTS)}")
    dist_info = init_distributed(cfg.device)
    device = choose_device(cfg.device, dist_info.local_rank)
    run = Path(cfg.out)
    if dist_info.main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(cfg.to_json())

    splits = prepare_data(cfg, run if dist_info.main else None)
    length = cfg.t_in + cfg.t_out
    anchor = cfg.t_in - 1 if cfg.advection != "none" else None
    train_set = WindowDataset(
        splits["train"],
        length,
        cfg.crop,
        random=True,
        items_per_epoch=cfg.items_per_epoch,
        augment=cfg.augment,
        seed=cfg.seed,
        anchor=anchor,
    )
    val_set = WindowDataset(
        splits["val"], length, cfg.crop, random=False, seed=cfg.seed, anchor=anchor
    )
    val_set.thin(cfg.val_items)

    _seed_everything(cfg.seed)
    model = build(
        cfg.model,
        hidden=cfg.hidden,
        layers=cfg.layers,
        kernel=cfg.kernel,
        patch=cfg.patch,
        t_in=cfg.t_in,
        t_out=cfg.t_out,
        cadence_minutes=cfg.cadence_minutes,
        resolution_m=cfg.resolution_m,
        advection=cfg.advection,
        motion_method=cfg.motion_method,
        motion_frames=cfg.motion_frames,
        motion_coarsen=cfg.motion_coarsen,
        motion_interp_step=cfg.motion_interp_step,
        frame_match=cfg.postprocess == FRAME_MATCH,
    )
    model.config.name = cfg.run_name
    if cfg.crop % model.stride:
        raise ValueError(f"crop {cfg.crop} is not a multiple of the model's stride {model.stride}")
    model.to(device)
    trained = [
        p for n, p in model.named_parameters() if not (cfg.freeze_network and n.startswith("net."))
    ]
    if not trained:
        raise ValueError("--freeze-network leaves nothing to train: this model has no parameters "
                         "outside its network (only the cascade mode has)")  # fmt: skip
    optimizer = torch.optim.Adam(trained, lr=cfg.lr)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    batches_per_epoch = max(1, len(train_set) // (cfg.batch * dist_info.world))
    total_steps = batches_per_epoch * cfg.epochs
    state = {"epoch": 0, "batch": 0, "step": 0, "best": None, "best_epoch": None}
    last = run / "last.pt"
    if cfg.init_from and not last.exists():
        warm_start(model, cfg.init_from)
    if last.exists():
        ckpt = load_checkpoint(last, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        state = ckpt["progress"]
        _set_rng_state(ckpt["rng"])
        log.info(
            "resumed from %s at step %d (epoch %d, batch %d)",
            last,
            state["step"],
            state["epoch"],
            state["batch"],
        )
        if report:
            report({"event": "resumed", **state})

    net = model
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    def save_last() -> None:
        if dist_info.main:
            save_checkpoint(
                last,
                model,
                optimizer=optimizer.state_dict(),
                scaler=scaler.state_dict(),
                progress=dict(state),
                rng=_rng_state(),
                train_config=asdict(cfg),
            )

    val_loader = torch.utils.data.DataLoader(val_set, batch_size=cfg.batch)
    metrics_log = run / "metrics.jsonl"
    model.train()
    while state["epoch"] < cfg.epochs:
        epoch = state["epoch"]
        train_set.epoch = epoch
        # item k of the epoch goes to rank k % world; skip the batches already done
        items = list(
            range(dist_info.rank, batches_per_epoch * cfg.batch * dist_info.world, dist_info.world)
        )
        items = items[state["batch"] * cfg.batch :]
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(train_set, items),
            batch_size=cfg.batch,
            num_workers=cfg.loader_workers,
            drop_last=True,
        )
        bar = _progress(
            batches_per_epoch,
            state["batch"],
            f"epoch {epoch + 1}/{cfg.epochs}",
            cfg.progress and dist_info.main,
        )
        started, running = time.time(), []
        for batch in loader:
            seq, motion = _unpack(batch, device)
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + state["step"])
            mask = truth_mask(cfg, seq.shape[0], state["step"], total_steps, epoch, gen).to(device)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, state["step"], total_steps)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                if motion is None:
                    pred, extra = net(seq, mask)
                    valid = None
                else:
                    pred, extra = net(seq, mask, motion)
                    valid = model.loss_mask(motion, seq.shape[1])
                reference = match_reference(cfg, seq)
                loss = sequence_loss(pred.float(), seq[:, 1:], cfg.loss, valid, reference)
                if model.adapter is not None:
                    loss = loss + cfg.decouple_weight * extra
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at step {state['step']}")
            state["step"] += 1
            state["batch"] += 1
            running.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(running[-20:]):.4g}")
            bar.update(1)
            if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0:
                save_last()
            if cfg.max_steps and state["step"] >= cfg.max_steps:
                break
        bar.close()
        if cfg.max_steps and state["step"] >= cfg.max_steps and state["batch"] < batches_per_epoch:
            save_last()
            log.info("stopped at --max-steps %d (resumable)", cfg.max_steps)
            return None
        scores = validate(model, val_loader, cfg, device) if dist_info.main else {}
        state["epoch"] += 1
        state["batch"] = 0
        if dist_info.main:
            record = {
                "epoch": state["epoch"],
                "step": state["step"],
                "train_loss": float(np.mean(running)) if running else None,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": round(time.time() - started, 1),
                **scores,
            }
            better = state["best"] is None or scores["val_loss"] < state["best"]
            if better:
                state["best"], state["best_epoch"] = scores["val_loss"], state["epoch"]
            kept = [run / "best.pt"] if better else []
            if cfg.keep_epochs:
                kept.append(run / f"epoch-{state['epoch']:03d}.pt")
            for path in kept:
                save_checkpoint(
                    path, model, progress=dict(state), scores=scores, train_config=asdict(cfg)
                )
            record["best"] = better
            with metrics_log.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            log.info("epoch %d: %s", state["epoch"], json.dumps(record))
            if report:
                report({"event": "epoch", **record})
        save_last()
        if cfg.max_steps and state["step"] >= cfg.max_steps:
            break
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    if not dist_info.main:
        return None
    return export_best(cfg, run)


def export_best(cfg: TrainConfig, run: Path) -> Path:
    """Export ``best.pt`` to ONNX beside the checkpoints and into the served model folder."""
    ckpt = load_checkpoint(run / "best.pt")
    model = model_from_checkpoint(ckpt)
    if cfg.export_steps:
        model.config.t_out = cfg.export_steps
    meta = checkpoint_metadata(
        model,
        ckpt,
        training={
            "epochs": ckpt["progress"]["epoch"],
            "steps": ckpt["progress"]["step"],
            "crop": cfg.crop,
            "batch": cfg.batch,
            "lr": cfg.lr,
            "seed": cfg.seed,
        },
    )
    path, worst = export_checked(model, run / f"{cfg.run_name}.onnx", meta)
    log.info("exported %s (parity %.1e)", path, worst)
    if cfg.model_dir:
        target = Path(cfg.model_dir) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(path.read_bytes())
        os.replace(tmp, target)
        path = target
    return path
