"""workers.registry: the folder of ONNX model files that workers serve, read without onnxruntime.

The gateway needs each model's metadata (t_in, t_out, stride, resolution) to validate requests
but must not import onnxruntime at start-up (DESIGN.md §2). ONNX files are protocol buffers;
``ModelProto.metadata_props`` is field 14, a repeated ``{key = 1, value = 2}`` message, so a
few lines of wire-format reading recover it without any dependency.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from radar.exceptions import RadarError

_METADATA_FIELD = 14


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield number, wire, value


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (raises RadarError if unreadable)."""
    data = Path(path).read_bytes()
    meta: dict[str, str] = {}
    try:
        for number, wire, value in _fields(data):
            if number == _METADATA_FIELD and wire == 2:
                entry = {n: v for n, w, v in _fields(value) if w == 2}
                meta[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise RadarError(f"{path}: not an ONNX model ({exc})") from None
    return meta


@dataclass(frozen=True)
class ModelEntry:
    """One servable model: its file and the metadata a gateway needs."""

    name: str
    path: str
    t_in: int
    t_out: int
    cadence_minutes: float
    resolution_m: float
    stride: int
    meta: dict = field(default_factory=dict)

    def public(self) -> dict:
        out: dict = {}
        for key, value in self.meta.items():
            try:
                out[key] = json.loads(value) if value[:1] in "{[" else value
            except ValueError:
                out[key] = value
        out.update(
            name=self.name,
            t_in=self.t_in,
            t_out=self.t_out,
            cadence_minutes=self.cadence_minutes,
            resolution_m=self.resolution_m,
            stride=self.stride,
            file=Path(self.path).name,
        )
        return out


def model_entry(path: str | os.PathLike) -> ModelEntry:
    meta = onnx_metadata(path)
    try:
        return ModelEntry(
            name=meta.get("name") or Path(path).stem,
            path=str(path),
            t_in=int(meta["t_in"]),
            t_out=int(meta["t_out"]),
            cadence_minutes=float(meta.get("cadence_minutes", 5)),
            resolution_m=float(meta.get("resolution_m", 1000)),
            stride=int(meta.get("stride", 1)),
            meta=meta,
        )
    except (KeyError, ValueError) as exc:
        raise RadarError(f"{path}: model metadata incomplete ({exc})") from None


def list_models(folder: str | os.PathLike) -> dict[str, ModelEntry]:
    """Every readable ``*.onnx`` in ``folder`` by model name (unreadable files are skipped)."""
    models: dict[str, ModelEntry] = {}
    for path in sorted(Path(folder).glob("*.onnx")):
        try:
            entry = model_entry(path)
        except (RadarError, OSError):
            continue
        models.setdefault(entry.name, entry)
    return models


#: A model folder may name its default model in this file (the shipped folder does).
DEFAULT_FILE = "DEFAULT"


def default_model(
    models: dict[str, ModelEntry], folder: str | os.PathLike, wanted: str | None = None
) -> str | None:
    """The model a request without ``model`` gets: ``wanted`` (the setting) when given, else
    the name in the folder's ``DEFAULT`` file when that model is served, else the first."""
    if wanted:
        return wanted
    marker = Path(folder) / DEFAULT_FILE
    if marker.is_file():
        name = marker.read_text().strip()
        if name in models:
            return name
    return next(iter(models), None)
