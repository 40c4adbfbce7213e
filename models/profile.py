"""Cost figures of a variant: parameters, multiply-accumulates, training memory, ORT time.

MACs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on the ``meta`` device
(no arithmetic is done, so counting the largest variant is instant); like the papers' figures
they cover convolutions and matrix products of one whole sequence (t_in + t_out - 1 steps).
Training memory is measured, not estimated: one forward + backward + Adam step in a fresh
process, as the rise of its peak resident set size over the size before the step.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from models.registry import build


def parameters(name: str, **config) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build(name, **config).parameters())


def macs(name: str, size: int = 128, batch: int = 1, **config) -> int:
    """Multiply-accumulates of one forecast (t_in inputs -> t_out outputs) at size x size."""
    with torch.device("meta"):
        model = build(name, **config)
        frames = torch.zeros(batch, model.config.t_in, 1, size, size)
        with FlopCounterMode(display=False) as counter:
            model.forecast(frames)
    return counter.get_total_flops() // 2


_STEP = r"""
import json, resource, sys, torch
from models.registry import build
from models.training import sequence_loss
name, size, batch, config = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
torch.manual_seed(0)
model = build(name, **config)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
seq = torch.rand(batch, model.config.t_in + model.config.t_out, 1, size, size)
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()
before = rss()
pred, extra = model(seq)
loss = sequence_loss(pred, seq[:, 1:]) + 0.01 * extra
loss.backward()
opt.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak_step_bytes": peak - before}))
"""


def train_step_memory(name: str, size: int = 128, batch: int = 1, **config) -> int:
    """Bytes by which one training step raises the peak RSS of a fresh CPU process."""
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        [sys.executable, "-c", _STEP, name, str(size), str(batch), json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    if res.returncode:
        raise RuntimeError(f"{name}: training step failed: {res.stderr.strip()[-500:]}")
    return int(json.loads(res.stdout.strip().splitlines()[-1])["peak_step_bytes"])


def ort_seconds(name: str, size: int = 128, repeat: int = 3, **config) -> float:
    """Median onnxruntime CPU seconds of one forecast (batch 1) at size x size."""
    import onnxruntime as ort

    from models.export import export_onnx

    torch.manual_seed(0)
    model = build(name, **config)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "m.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(0).random((1, model.config.t_in, 1, size, size), np.float32)
    session.run(None, {"frames": frames})  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, {"frames": frames})
        times.append(time.perf_counter() - start)
    return statistics.median(times)
