"""workers.catalog: the folder of ONNX model files that workers serve, read without onnxruntime.

:class:`ModelInfo` is the one description of a model file (DESIGN.md §4 metadata): the gateway
lists and validates with it, the engine runs with it, and :class:`Catalog` is the one place that
decides which model a request without a name gets. The gateway must not import onnxruntime
(DESIGN.md §2); ONNX files are protocol buffers, ``ModelProto.metadata_props`` is field 14, a
repeated ``{key = 1, value = 2}`` message, so a few lines of wire-format reading recover it
without any dependency.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.errors import ModelError
from radar.transforms import PIXEL_TRANSFORM

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
    """The ``metadata_props`` of an ONNX file as a dict (raises ModelError if unreadable)."""
    data = Path(path).read_bytes()
    meta: dict[str, str] = {}
    try:
        for number, wire, value in _fields(data):
            if number == _METADATA_FIELD and wire == 2:
                entry = {n: v for n, w, v in _fields(value) if w == 2}
                meta[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not an ONNX model ({exc})") from None
    return meta


#: The fields ``GET /models`` lists beside the rest of the metadata (``file`` last).
PUBLIC_FIELDS = ("name", "t_in", "t_out", "cadence_minutes", "resolution_m", "stride", "file")


@dataclass(frozen=True)
class ModelInfo:
    """One servable model file and what its metadata says (the keys of DESIGN.md §4)."""

    name: str
    path: str
    t_in: int
    t_out: int
    cadence_minutes: float
    resolution_m: float
    stride: int
    transform: str
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, meta: dict[str, str], path: str | os.PathLike) -> ModelInfo:
        """From the ``metadata_props`` of ``path`` (read here, or by onnxruntime's session)."""
        try:
            return cls(
                name=meta.get("name") or Path(path).stem,
                path=str(path),
                t_in=int(meta["t_in"]),
                t_out=int(meta["t_out"]),
                cadence_minutes=float(meta.get("cadence_minutes", 5)),
                resolution_m=float(meta.get("resolution_m", 1000)),
                stride=int(meta.get("stride", 1)),
                transform=meta.get("transform", PIXEL_TRANSFORM),
                meta=dict(meta),
            )
        except (KeyError, ValueError) as exc:
            raise ModelError(f"{path}: model metadata incomplete ({exc})") from None

    def public(self) -> dict:
        """JSON-friendly description for ``GET /models``: the metadata (JSON values decoded)
        and the fields above, with the file name instead of its path."""
        out: dict = {}
        for key, value in self.meta.items():
            try:
                out[key] = json.loads(value) if value[:1] in "{[" else value
            except ValueError:
                out[key] = value
        out.update({key: getattr(self, key) for key in PUBLIC_FIELDS[:-1]})
        out["file"] = Path(self.path).name
        return out

    def check_times(self, times: Sequence, names: Sequence[str] | None = None) -> None:
        """Raise :class:`FramesMismatch` unless ``times`` (sorted, one per frame) can feed this
        model: at least ``t_in`` frames, every step the model's cadence. The one place of
        these checks: the gateway runs them on headers, the engine on the decoded frames."""
        if len(times) < self.t_in:
            raise FramesMismatch(
                f"model {self.name} needs {self.t_in} frames, got {len(times)}",
                "too_few_frames",
            )
        steps = np.diff(np.array(times, dtype="datetime64[ns]")) / np.timedelta64(1, "m")
        for k, step in enumerate(steps):
            if abs(step - self.cadence_minutes) > 1e-6:
                where = f"{names[k + 1]}: " if names else ""
                raise FramesMismatch(
                    f"{where}model {self.name} expects frames every "
                    f"{self.cadence_minutes:g} min, got a step of {step:g} min",
                    "not_consecutive",
                )


class FramesMismatch(ModelError):
    """Frames that cannot feed a model (too few, or at another cadence); ``kind`` is the
    gateway's error code."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def read_model_info(path: str | os.PathLike) -> ModelInfo:
    """The :class:`ModelInfo` of one ONNX file (raises ModelError if unreadable)."""
    return ModelInfo.from_metadata(onnx_metadata(path), path)


def list_models(folder: str | os.PathLike) -> dict[str, ModelInfo]:
    """Every readable ``*.onnx`` in ``folder`` by model name (unreadable files are skipped)."""
    models: dict[str, ModelInfo] = {}
    for path in sorted(Path(folder).glob("*.onnx")):
        try:
            info = read_model_info(path)
        except (ModelError, OSError):
            continue
        models.setdefault(info.name, info)
    return models


#: A model folder may name its default model in this file (the shipped folder does).
DEFAULT_FILE = "DEFAULT"


@dataclass(frozen=True)
class Catalog:
    """The models of one folder and the default a request without ``model`` gets."""

    folder: Path
    models: dict[str, ModelInfo]
    default: str | None

    @classmethod
    def read(cls, folder: str | os.PathLike, wanted: str | None = None) -> Catalog:
        """The default is ``wanted`` (the setting) when given, else the name in the folder's
        ``DEFAULT`` file when that model is served, else the first model."""
        folder = Path(folder)
        models = list_models(folder)
        default = wanted
        if not default:
            marker = folder / DEFAULT_FILE
            named = marker.read_text().strip() if marker.is_file() else None
            default = named if named in models else next(iter(models), None)
        return cls(folder, models, default)

    def get(self, name: str | None = None) -> ModelInfo | None:
        """The model called ``name`` (the default when None or empty), None if not served."""
        return self.models.get(name or self.default or "")

    def require(self, name: str | None = None) -> ModelInfo:
        """As :meth:`get`, but an unknown model is a :class:`ModelError` naming those served."""
        info = self.get(name)
        if info is None:
            known = ", ".join(self.models) or "none"
            raise ModelError(f"model {name or self.default!r} is not served here (known: {known})")
        return info
