"""Shared test fixtures: where the real radar samples are, and small generated fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NOWCAST_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; tests that need real radar skip with a reason when it is absent."""
    if not (DATA / "MANIFEST.txt").exists():
        pytest.skip(f"real radar samples not found at {DATA} (set NOWCAST_SHARED)")
    return DATA


@pytest.fixture(scope="session")
def dwd_dir(data_dir: Path) -> Path:
    return data_dir / "dwd"


@pytest.fixture
def torch_one_thread():
    """Tiny tensors on a shared, loaded 2-core machine: one intra-op thread is ~10x faster."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
