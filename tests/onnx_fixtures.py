"""Tiny ONNX models for engine and service tests.

``persistence_model`` (onnx.helper, no torch) repeats the last input frame ``t_out`` times,
optionally scaled, so a test knows exactly what the engine must return around it.
``extrapolation_model`` (needs torch) is an untrained advection-aware network with the two
inputs ``frames`` and ``motion``: its forecast is exactly the semi-Lagrangian extrapolation of
the last frame along the motion the worker estimates, so a test knows where the rain must go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def persistence_model(
    path: Path,
    t_in: int = 4,
    t_out: int = 6,
    stride: int = 4,
    resolution_m: float = 1000.0,
    scale: float = 1.0,
    name: str = "test-persistence",
) -> Path:
    onnx = __import__("onnx")
    from onnx import TensorProto, helper

    inputs = helper.make_tensor_value_info(
        "frames", TensorProto.FLOAT, ["batch", t_in, 1, "H", "W"]
    )
    output = helper.make_tensor_value_info(
        "forecast", TensorProto.FLOAT, ["batch", t_out, 1, "H", "W"]
    )
    consts = [
        helper.make_tensor("starts", TensorProto.INT64, [1], [t_in - 1]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [t_in]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("reps", TensorProto.INT64, [5], [1, t_out, 1, 1, 1]),
        helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
    ]
    nodes = [
        helper.make_node("Slice", ["frames", "starts", "ends", "axes"], ["last"]),
        helper.make_node("Tile", ["last", "reps"], ["tiled"]),
        helper.make_node("Mul", ["tiled", "scale"], ["forecast"]),
    ]
    graph = helper.make_graph(nodes, "persistence", [inputs], [output], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "name": name,
        "arch": "persistence",
        "multiscale": "false",
        "t_in": str(t_in),
        "t_out": str(t_out),
        "cadence_minutes": "5",
        "resolution_m": str(resolution_m),
        "transform": "dbz_pixel_256_1.42",
        "stride": str(stride),
        "version": "test",
        "training_data": "none",
        "validation_scores": "{}",
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    assert np is not None
    return path


def extrapolation_model(
    path: Path,
    t_in: int = 4,
    t_out: int = 6,
    resolution_m: float = 1000.0,
    mode: str = "lagrangian",
    name: str = "test-extrapolation",
    meta: dict | None = None,
    **config,
) -> Path:
    from models.export import export_onnx, metadata
    from models.registry import build

    model = build(
        "ms-convlstm",
        hidden=4,
        patch=1,
        t_in=t_in,
        t_out=t_out,
        resolution_m=resolution_m,
        advection=mode,
        **config,
    )
    model.config.name = name
    extra = {"version": "test", "training_data": "none", **(meta or {})}
    return export_onnx(model, path, metadata(model, **extra))
