"""Training checkpoints: one file holds the model config, weights, optimizer, step counters,
RNG states and the training configuration, written atomically so a kill never leaves a
half-written file behind."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from models.errors import ModelError
from models.network import ModelConfig, Nowcaster

FORMAT = "ms-nowcast-checkpoint/1"


def save_checkpoint(path: str | os.PathLike, model: Nowcaster, **state) -> Path:
    """Write ``model`` (config + weights) and any ``state`` (optimizer, step, ...) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "config": model.config.to_dict(), "model": model.state_dict()}
    payload.update(state)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    try:
        payload = torch.load(Path(path), map_location=map_location, weights_only=False)
    except Exception as exc:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise ModelError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path}: not an ms-nowcast checkpoint")
    return payload


def model_from_checkpoint(
    path_or_payload: str | os.PathLike | dict, map_location: str | torch.device = "cpu"
) -> Nowcaster:
    payload = (
        path_or_payload
        if isinstance(path_or_payload, dict)
        else load_checkpoint(path_or_payload, map_location)
    )
    from models.registry import from_config

    model = from_config(ModelConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["model"])
    return model
