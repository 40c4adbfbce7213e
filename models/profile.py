"""Cost figures of a variant: parameters, multiply-accumulates, training memory, ORT time.

MACs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on the ``meta`` device
(no arithmetic is done, so counting the largest variant is instant); like the papers' figures
they cover convolutions and matrix products of one whole sequence (t_in + t_out - 1 steps).
Training memory is measured, not estimated: one forward + backward + Adam step in a fresh
process, as the rise of its peak resident set size over the size before the step; the same
process can time further steps. Advection-aware variants (``advection=...``) are fed a motion
field too, so the cost of their shifts is counted.
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
        extra = () if model.config.advection == "none" else (torch.zeros(batch, 2, size, size),)
        with FlopCounterMode(display=False) as counter:
            model.forecast(frames, *extra)
    return counter.get_total_flops() // 2


_STEP = r"""
import json, resource, statistics, sys, time, torch
from models.registry import build
from models.training import sequence_loss
name, size, batch, repeat, config = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
)
torch.manual_seed(0)
model = build(name, **config)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
seq = torch.rand(batch, model.config.t_in + model.config.t_out, 1, size, size)
# an advection-aware model also takes motion: a uniform drift of half a pixel per step
motion = None
if config.get("advection", "none") != "none":
    motion = torch.full((batch, 2, size, size), 0.5)
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()
def step():
    opt.zero_grad()
    pred, extra = model(seq) if motion is None else model(seq, motion=motion)
    loss = sequence_loss(pred, seq[:, 1:]) + 0.01 * extra
    loss.backward()
    opt.step()
before = rss()
step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
times = []
for _ in range(repeat):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
print(json.dumps({"peak_step_bytes": peak - before,
                  "step_seconds": statistics.median(times) if times else None}))
"""


def train_step_cost(
    name: str, size: int = 128, batch: int = 1, repeat: int = 0, **config
) -> dict[str, float | None]:
    """One training step (forward, backward, Adam) in a fresh CPU process: ``peak_step_bytes``,
    the rise of its peak RSS over the size before the step, and ``step_seconds``, the median
    time of ``repeat`` further steps (None when ``repeat`` is 0). The torch thread count is the
    caller's (``OMP_NUM_THREADS``)."""
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        [sys.executable, "-c", _STEP, name, str(size), str(batch), str(repeat), json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    if res.returncode:
        raise RuntimeError(f"{name}: training step failed: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def train_step_memory(name: str, size: int = 128, batch: int = 1, **config) -> int:
    """Bytes by which one training step raises the peak RSS of a fresh CPU process."""
    return int(train_step_cost(name, size, batch, **config)["peak_step_bytes"])


def ort_seconds(name: str, size: int = 128, repeat: int = 3, **config) -> float:
    """Median onnxruntime CPU seconds of one forecast (batch 1) at size x size."""
    import onnxruntime as ort

    from models.export import export_onnx

    torch.manual_seed(0)
    model = build(name, **config)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "m.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {
        "frames": np.random.default_rng(0).random((1, model.config.t_in, 1, size, size), np.float32)
    }
    if "motion" in [i.name for i in session.get_inputs()]:
        feed["motion"] = np.full((1, 2, size, size), 0.5, np.float32)
    session.run(None, feed)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
