"""models.evaluation: score a model and the classical baselines on the same windows.

Used by ``nowcast evaluate`` and by the model card of the shipped default model. A *method* is
any callable ``(inputs: canonical sequence of t_in frames, steps) -> (steps, y, x) mm/h``; the
baselines of :mod:`models.baselines` and an ONNX model (through :class:`workers.engine.Engine`)
are wrapped to that shape, so every method sees exactly the same inputs and observations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from models.baselines import BASELINES
from models.metrics import SkillScores, mean_over_leads
from radar.windows import Windows

Method = Callable[[xr.Dataset, int], np.ndarray]

#: (label, score key, threshold/scale key) of the headline figures, averaged over 5-60 min.
HEADLINE = (
    ("CSI 1", "CSI", "1.0"),
    ("CSI 5", "CSI", "5.0"),
    ("HSS 1", "HSS", "1.0"),
    ("FSS 1mm 11px", "FSS", "11"),
    ("MAE", "MAE", None),
    ("B-MAE", "B-MAE", None),
    ("SSIM", "SSIM", None),
)


def baseline_method(name: str) -> Method:
    fn = BASELINES[name]
    return lambda inputs, steps: fn(inputs["rainfall_rate"].values, steps)


def onnx_method(path: str | Path, device: str | None = None) -> tuple[str, Method]:
    from workers.engine import Engine

    engine = Engine(path, device=device)
    return (
        engine.info.name,
        lambda inputs, steps: engine.predict(inputs, steps)["rainfall_rate"].values,
    )


def evaluate(
    windows: Windows,
    methods: dict[str, Method],
    t_in: int,
    steps: int,
    cadence_minutes: float = 5,
    progress: bool = True,
) -> dict[str, dict]:
    """Scores per method (see :meth:`models.metrics.SkillScores.result`) over all windows."""
    from tqdm import tqdm

    scores = {name: SkillScores(steps, cadence_minutes) for name in methods}
    for i in tqdm(range(len(windows)), desc="evaluate", unit="window", disable=not progress):
        ds = windows.dataset(i)
        inputs = ds.isel(time=slice(0, t_in))
        observed = ds["rainfall_rate"].values[t_in : t_in + steps]
        for name, method in methods.items():
            scores[name].add(method(inputs, steps), observed)
    return {name: s.result() for name, s in scores.items()}


def headline(result: dict, max_lead: float = 60) -> dict[str, float]:
    """The headline scores of one method, averaged over leads up to ``max_lead`` minutes."""
    leads = result["lead_minutes"]
    out = {}
    for label, key, sub in HEADLINE:
        values = result[key][sub] if sub else result[key]
        out[label] = mean_over_leads(values, leads, max_lead)
    return out


def format_table(results: dict[str, dict], max_lead: float = 60) -> str:
    """A terminal table: headline scores per method, then CSI at 1 mm/h per lead time."""
    labels = [label for label, _, _ in HEADLINE]
    lines = [f"mean over 5-{max_lead:g} min"]
    lines.append(f"{'method':<26}" + "".join(f"{label:>14}" for label in labels))
    for name, result in results.items():
        row = headline(result, max_lead)
        lines.append(f"{name:<26}" + "".join(f"{row[label]:>14.3f}" for label in labels))
    leads = next(iter(results.values()))["lead_minutes"]
    lines.append("")
    lines.append("CSI at 1 mm/h per lead time (min)")
    lines.append(f"{'method':<26}" + "".join(f"{lead:>7g}" for lead in leads))
    for name, result in results.items():
        lines.append(f"{name:<26}" + "".join(f"{v:>7.3f}" for v in result["CSI"]["1.0"]))
    return "\n".join(lines)


def plot_skill(results: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """PNG of skill against lead time, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("CSI at 1 mm/h", lambda r: r["CSI"]["1.0"]),
        ("CSI at 5 mm/h", lambda r: r["CSI"]["5.0"]),
        ("HSS at 1 mm/h", lambda r: r["HSS"]["1.0"]),
        ("FSS 1 mm/h, 11 px", lambda r: r["FSS"]["11"]),
        ("MAE (mm/h)", lambda r: r["MAE"]),
        ("SSIM", lambda r: r["SSIM"]),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    for ax, (label, get) in zip(axes.ravel(), panels, strict=True):
        for name, result in results.items():
            ax.plot(result["lead_minutes"], get(result), marker="o", ms=3, label=name)
        ax.set_title(label)
        ax.set_xlabel("lead time (min)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_results(
    results: dict[str, dict], folder: str | Path, meta: dict | None = None
) -> dict[str, Path]:
    """Write ``scores.json``, ``scores.txt`` and ``skill.png`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta or {},
        "methods": results,
        "headline_5_60min": {name: headline(r) for name, r in results.items()},
    }
    (folder / "scores.json").write_text(json.dumps(payload, indent=1, default=float))
    (folder / "scores.txt").write_text(format_table(results) + "\n")
    return {
        "json": folder / "scores.json",
        "table": folder / "scores.txt",
        "plot": plot_skill(results, folder / "skill.png", (meta or {}).get("title", "")),
    }


def plot_case(
    windows: Windows,
    methods: dict[str, Method],
    t_in: int,
    leads: tuple[int, ...],
    path: str | Path,
    index: int | None = None,
) -> Path:
    """Forecast maps of one window (by default the wettest): observed and every method at
    ``leads`` (frames after the last input), on a logarithmic rain-rate scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    steps = max(leads)
    if index is None:  # the window with the most rain at its last lead
        wet = []
        for i in range(len(windows)):
            frame = windows.dataset(i)["rainfall_rate"].values[t_in + steps - 1]
            wet.append(float((np.nan_to_num(frame) >= 1.0).mean()))
        index = int(np.argmax(wet))
    ds = windows.dataset(index)
    inputs = ds.isel(time=slice(0, t_in))
    observed = ds["rainfall_rate"].values[t_in : t_in + steps]
    rows = {"observed": observed}
    rows.update({name: method(inputs, steps) for name, method in methods.items()})
    cadence = float((ds["time"].values[1] - ds["time"].values[0]) / np.timedelta64(1, "m"))
    norm = LogNorm(0.1, 100)
    fig, axes = plt.subplots(
        len(rows),
        len(leads) + 1,
        figsize=(2.6 * (len(leads) + 1), 2.4 * len(rows)),
        constrained_layout=True,
        squeeze=False,
    )
    last_input = np.ma.masked_less(inputs["rainfall_rate"].values[-1], 0.1)
    image = None
    for r, (name, frames) in enumerate(rows.items()):
        if r == 0:
            axes[r, 0].imshow(last_input, norm=norm, cmap="turbo")
            axes[r, 0].set_title("last input")
        else:
            axes[r, 0].set_frame_on(False)  # keeps the row label
        axes[r, 0].set_ylabel(name)
        for c, lead in enumerate(leads, start=1):
            image = axes[r, c].imshow(
                np.ma.masked_less(np.nan_to_num(frames[lead - 1]), 0.1), norm=norm, cmap="turbo"
            )
            if r == 0:
                axes[r, c].set_title(f"+{lead * cadence:g} min")
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.6, label="rain rate (mm/h)")
    fig.suptitle(f"window starting {str(ds['time'].values[0])[:16]}Z")
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
