"""The GPU path as far as a machine without GPU can test it: the providers check on a stub
session, and the worker's refusal to start with NOWCAST_DEVICE=cuda and no CUDA provider.
(The compose pins and pool: tests/deploy.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workers.engine import EngineError, check_providers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class StubSession:
    """What onnxruntime reports after building a session: the providers it really uses."""

    def __init__(self, *providers: str):
        self.providers = list(providers)

    def get_providers(self) -> list[str]:
        return self.providers


def test_a_session_that_fell_back_to_cpu_is_refused_when_cuda_is_asked() -> None:
    with pytest.raises(EngineError, match="CUDA provider did not load"):
        check_providers(StubSession("CPUExecutionProvider"), "cuda")
    cuda = StubSession("CUDAExecutionProvider", "CPUExecutionProvider")
    assert check_providers(cuda, "cuda")[0] == "CUDAExecutionProvider"
    assert check_providers(StubSession("CPUExecutionProvider"), "auto") == ["CPUExecutionProvider"]


def test_worker_refuses_to_start_without_a_cuda_provider() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/13", "NOWCAST_DEVICE": "cuda"}
    proc = subprocess.run(
        [sys.executable, "-m", "nowcast", "worker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "refusing to start" in proc.stderr and "CUDA provider" in proc.stderr
