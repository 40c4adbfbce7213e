"""ONNX export of a trained network (DESIGN.md §4) and the parity check that guards it.

The exported graph is inference only: ``frames`` [batch, t_in, 1, H, W] -> ``forecast``
[batch, t_out, 1, H, W] in pixel space, the rollout unrolled, batch/H/W dynamic. Workers read
everything else from ``metadata_props`` and never need torch.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.advection import AdvectionNowcaster, check_frame_match
from models.checkpoint import load_checkpoint, model_from_checkpoint
from models.errors import ModelError
from models.network import Nowcaster
from radar.transforms import PIXEL_TRANSFORM

OPSET = 17
METADATA_VERSION = "1"
PARITY_TOLERANCE = 1e-4
#: the ``postprocess`` that the graph does itself (``ModelConfig.frame_match``; one of the
#: workers' POSTPROCESSING)
FRAME_MATCH = "frame-cdf-match"
#: disagreement in pixel space (0.7 dB) that parity forgives a graph with ``frame_match``: rank
#: matching hands neighbouring values of the reference to pixels whose forecasts tie to float
#: precision, and onnxruntime and torch break such ties differently (measured on the shipped
#: network: 1.3 % of pixels off by more than 1e-4, none by more than 2e-3). An export bug (a
#: wrong order, reference or lead) moves values by far more.
FRAME_MATCH_SLACK = 1e-2


class ParityError(ModelError):
    """onnxruntime and PyTorch disagree on the exported graph."""


class _Forecast(nn.Module):
    def __init__(self, model: Nowcaster | AdvectionNowcaster) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, motion: torch.Tensor | None = None) -> torch.Tensor:
        if motion is None:
            return self.model.forecast(frames)
        return self.model.forecast(frames, motion)


def input_names(model: Nowcaster | AdvectionNowcaster) -> list[str]:
    """The graph's inputs: ``frames``, and ``motion`` for the advection modes (DESIGN.md §4)."""
    return ["frames", "motion"] if isinstance(model, AdvectionNowcaster) else ["frames"]


def _sample_inputs(model, batch: int, h: int, w: int, gen=None) -> dict[str, torch.Tensor]:
    """Random inputs for tracing and parity: pixels in [0, 1], and a smooth motion field of up
    to 1.5 pixels a step (as optical flow gives; white noise would be no motion field). For a
    graph with ``frame_match`` the frames are one smooth field that changes a little from frame
    to frame, as rain does: independent frames decorrelate, so the cascade's late leads become
    flat and their ranks, which the matching follows, would be float noise (onnxruntime and
    torch then hand the values out in different orders)."""
    t_in = model.config.t_in
    if model.config.frame_match:
        coarse = torch.rand(batch, 1, max(2, h // 8), max(2, w // 8), generator=gen)
        coarse = coarse + 0.05 * torch.randn(batch, t_in, *coarse.shape[2:], generator=gen)
        smooth = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)
        inputs = {"frames": smooth.clamp(0, 1).unsqueeze(2)}
    else:
        inputs = {"frames": torch.rand(batch, t_in, 1, h, w, generator=gen)}
    if "motion" in input_names(model):
        coarse = 3 * (torch.rand(batch, 2, 3, 3, generator=gen) - 0.5)
        inputs["motion"] = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)
    return inputs


def training_data(train_config: dict) -> dict:
    """The ``training_data`` metadata entry from a run's configuration (archives by split)."""
    return {
        "train": train_config.get("data", []),
        "val": train_config.get("val", []),
        "test": train_config.get("test", []),
        "synthetic_sequences": train_config.get("synthetic", 0),
    }


def checkpoint_metadata(model: Nowcaster, ckpt: dict, **extra) -> dict[str, str]:
    """:func:`metadata` of a model loaded from the checkpoint ``ckpt``: its validation scores,
    training data and steps, the postprocessing it was trained for (``none`` for runs from
    before ``--postprocess``) and the day of export as its version (as a training run's own
    export writes), unless ``extra`` says otherwise."""
    tc = ckpt.get("train_config", {})
    found: dict = {"postprocess": tc.get("postprocess", "none"), "version": time.strftime("%Y%m%d")}
    if "scores" in ckpt:
        found["validation_scores"] = {
            k: v for k, v in ckpt["scores"].items() if isinstance(v, float | int)
        }
    if tc:
        found["training_data"] = training_data(tc)
        found["training"] = {"steps": ckpt.get("progress", {}).get("step"), "config": tc}
    return metadata(model, **{**found, **extra})


def metadata(model: Nowcaster, **extra) -> dict[str, str]:
    """The ``metadata_props`` of DESIGN.md §4; ``extra`` (training data, validation scores,
    version, ...) is JSON-encoded when not a string."""
    cfg = model.config
    meta = {
        "name": cfg.name,
        "arch": cfg.arch,
        "multiscale": str(cfg.multiscale).lower(),
        "t_in": str(cfg.t_in),
        "t_out": str(cfg.t_out),
        "cadence_minutes": str(cfg.cadence_minutes),
        "resolution_m": str(cfg.resolution_m),
        "transform": PIXEL_TRANSFORM,
        "stride": str(model.stride),
        "patch": str(cfg.patch),
        "hidden": str(cfg.hidden),
        "config": json.dumps(cfg.to_dict()),
        "inputs": ",".join(input_names(model)),
        "metadata_version": METADATA_VERSION,
        "training_data": "",
        "validation_scores": "{}",
        "version": "0",
    }
    if cfg.advection != "none":  # what a worker computes for the `motion` input
        meta.update(
            advection=cfg.advection,
            motion_method=cfg.motion_method,
            motion_frames=str(cfg.motion_frames),
            motion_coarsen=str(cfg.motion_coarsen),
            motion_interp_step=str(cfg.motion_interp_step),
        )
    if "motion_grid" in extra and cfg.advection == "none":
        raise ModelError(f"{cfg.name} takes no motion input: motion_grid does not apply")
    for key, value in extra.items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    return meta


def export_onnx(
    model: Nowcaster | AdvectionNowcaster,
    path: str | os.PathLike,
    meta: dict[str, str] | None = None,
    sample_size: int | None = None,
) -> Path:
    """Write ``model`` as ONNX with dynamic batch, H and W, and its metadata."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    size = sample_size or 4 * model.stride
    dummy = _sample_inputs(model, 1, size, size)
    dims = {0: "batch", 3: "H", 4: "W"}
    axes = {"frames": dims, "forecast": dims, "motion": {0: "batch", 2: "H", 3: "W"}}
    names = input_names(model)
    tmp = path.with_suffix(".tmp.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter
        torch.onnx.export(
            _Forecast(model),
            tuple(dummy[n] for n in names),
            str(tmp),
            dynamo=False,
            input_names=names,
            output_names=["forecast"],
            dynamic_axes={k: v for k, v in axes.items() if k in (*names, "forecast")},
            opset_version=OPSET,
        )
    proto = onnx.load(str(tmp))
    del proto.metadata_props[:]
    for key, value in (meta or metadata(model)).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    return path


def parity(
    model: Nowcaster,
    path: str | os.PathLike,
    sizes: tuple[tuple[int, int], ...] | None = None,
    batches: tuple[int, ...] = (1, 2),
    seed: int = 0,
) -> float:
    """Largest |onnxruntime - torch eager| in pixel space over random inputs of several sizes and
    batch sizes (CPU provider)."""
    import onnxruntime as ort

    s = model.stride
    sizes = sizes or ((4 * s, 4 * s), (6 * s, 3 * s))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    model = model.eval().cpu()
    worst = 0.0
    for h, w in sizes:
        for b in batches:
            inputs = _sample_inputs(model, b, h, w, gen)
            with torch.no_grad():
                ref = model.forecast(*inputs.values()).numpy()
            got = session.run(["forecast"], {k: v.numpy() for k, v in inputs.items()})[0]
            if got.shape != ref.shape:
                raise AssertionError(f"ONNX output {got.shape} != torch {ref.shape}")
            worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def export_checked(
    model: Nowcaster,
    path: str | os.PathLike,
    meta: dict[str, str] | None = None,
    tolerance: float = PARITY_TOLERANCE,
) -> tuple[Path, float]:
    """:func:`export_onnx` then :func:`parity`; a graph that disagrees is deleted and refused
    (by more than ``tolerance``, plus :data:`FRAME_MATCH_SLACK` with ``frame_match``)."""
    path = export_onnx(model, path, meta)
    worst = parity(model, path)
    if model.config.frame_match:
        tolerance += FRAME_MATCH_SLACK
    if worst > tolerance:
        path.unlink(missing_ok=True)
        raise ParityError(
            f"{path}: ONNX parity check failed, max |ORT - torch| = {worst:.2e} > {tolerance:g}"
        )
    return path, worst


def set_frame_match(model: Nowcaster | AdvectionNowcaster, on: bool) -> None:
    """Match each lead's distribution inside the graph (``frame-cdf-match``) or not."""
    if on:
        try:
            check_frame_match(model.config.advection)
        except ValueError as exc:
            raise ModelError(f"{model.config.name}: {FRAME_MATCH}: {exc}") from None
    model.config.frame_match = on


def export_checkpoint(
    checkpoint: str | os.PathLike,
    path: str | os.PathLike,
    steps: int | None = None,
    name: str | None = None,
    tolerance: float = PARITY_TOLERANCE,
    **extra,
) -> tuple[Path, float, Nowcaster]:
    """A training checkpoint as a parity-checked ONNX file with :func:`checkpoint_metadata`
    (``extra`` overrides it), emitting ``steps`` frames (default: the model's ``t_out``) under
    ``name`` (default: the run's); returns the path, the parity error and the model."""
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    postprocess = extra.get("postprocess", ckpt.get("train_config", {}).get("postprocess"))
    set_frame_match(model, postprocess == FRAME_MATCH)
    if steps:
        model.config.t_out = steps
    if name:
        model.config.name = name
    meta = checkpoint_metadata(model, ckpt, **extra)
    return (*export_checked(model, path, meta, tolerance), model)
