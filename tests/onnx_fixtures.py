"""Tiny ONNX models built with onnx.helper (no torch), for engine and service tests.

``persistence_model`` repeats the last input frame ``t_out`` times, optionally scaled, so a
test knows exactly what the engine must return around it.
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
