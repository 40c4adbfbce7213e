"""The model registry reads ONNX metadata without onnxruntime, as onnx itself stores it."""

from __future__ import annotations

from pathlib import Path

import pytest

from radar.exceptions import RadarError
from tests.onnx_fixtures import persistence_model
from workers.registry import DEFAULT_FILE, default_model, list_models, model_entry, onnx_metadata

onnx = pytest.importorskip("onnx")


def test_metadata_equals_what_onnx_reads(tmp_path: Path) -> None:
    path = persistence_model(tmp_path / "a.onnx", t_in=3, t_out=7, stride=16, name="alpha")
    ours = onnx_metadata(path)
    theirs = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert ours == theirs
    entry = model_entry(path)
    assert (entry.name, entry.t_in, entry.t_out, entry.stride) == ("alpha", 3, 7, 16)


def test_folder_listing_skips_broken_files(tmp_path: Path) -> None:
    persistence_model(tmp_path / "a.onnx", name="alpha")
    persistence_model(tmp_path / "b.onnx", name="beta")
    (tmp_path / "broken.onnx").write_bytes(b"\xff\xff\xff")
    (tmp_path / "notes.txt").write_text("x")
    assert sorted(list_models(tmp_path)) == ["alpha", "beta"]
    with pytest.raises(RadarError):
        onnx_metadata(tmp_path / "broken.onnx")


def test_default_model_from_setting_marker_file_or_first(tmp_path: Path) -> None:
    persistence_model(tmp_path / "a.onnx", name="alpha")
    persistence_model(tmp_path / "b.onnx", name="beta")
    models = list_models(tmp_path)
    assert default_model(models, tmp_path) == "alpha"  # no marker: the first
    (tmp_path / DEFAULT_FILE).write_text("beta\n")
    assert default_model(models, tmp_path) == "beta"  # the folder's choice
    assert default_model(models, tmp_path, "alpha") == "alpha"  # the setting wins
    (tmp_path / DEFAULT_FILE).write_text("gone")
    assert default_model(models, tmp_path) == "alpha"  # a stale marker is ignored
