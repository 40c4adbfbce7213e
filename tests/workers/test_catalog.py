"""The model catalog reads ONNX metadata without onnxruntime, as onnx itself stores it."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ModelError
from tests.onnx_fixtures import persistence_model
from workers.catalog import DEFAULT_FILE, Catalog, list_models, onnx_metadata, read_model_info

onnx = pytest.importorskip("onnx")


def test_metadata_equals_what_onnx_reads(tmp_path: Path) -> None:
    path = persistence_model(tmp_path / "a.onnx", t_in=3, t_out=7, stride=16, name="alpha")
    ours = onnx_metadata(path)
    theirs = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert ours == theirs
    entry = read_model_info(path)
    assert (entry.name, entry.t_in, entry.t_out, entry.stride) == ("alpha", 3, 7, 16)


def test_folder_listing_skips_broken_files(tmp_path: Path) -> None:
    persistence_model(tmp_path / "a.onnx", name="alpha")
    persistence_model(tmp_path / "b.onnx", name="beta")
    (tmp_path / "broken.onnx").write_bytes(b"\xff\xff\xff")
    (tmp_path / "notes.txt").write_text("x")
    assert sorted(list_models(tmp_path)) == ["alpha", "beta"]
    with pytest.raises(ModelError):
        onnx_metadata(tmp_path / "broken.onnx")


def test_default_model_from_setting_marker_file_or_first(tmp_path: Path) -> None:
    persistence_model(tmp_path / "a.onnx", name="alpha")
    persistence_model(tmp_path / "b.onnx", name="beta")
    assert Catalog.read(tmp_path).default == "alpha"  # no marker: the first
    (tmp_path / DEFAULT_FILE).write_text("beta\n")
    catalog = Catalog.read(tmp_path)
    assert catalog.default == "beta" and catalog.get().name == "beta"  # the folder's choice
    assert Catalog.read(tmp_path, "alpha").default == "alpha"  # the setting wins
    (tmp_path / DEFAULT_FILE).write_text("gone")
    assert Catalog.read(tmp_path).default == "alpha"  # a stale marker is ignored
    assert catalog.get("nope") is None
    with pytest.raises(ModelError, match="not served here"):
        catalog.require("nope")
