"""models.evaluation: score a model and the classical baselines on the same windows.

Used by ``nowcast evaluate`` and by the model card of the shipped default model. A *method* is
any callable ``(inputs: canonical sequence of t_in frames, steps) -> (steps, y, x) mm/h``; the
baselines of :mod:`models.baselines` are wrapped to that shape here, and the caller passes in
any other method (``nowcast evaluate`` wraps an ONNX model run by the worker's engine), so every
method sees exactly the same inputs and observations; ``models`` knows nothing of the workers.
:func:`add_blends` adds references that average a model with LK extrapolation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from models.baselines import BASELINES, DEFAULT_CADENCE_MINUTES
from models.metrics import SkillScores, mean_over_leads
from radar.grids import pixel_size
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

#: (label, Markdown label, score key, threshold/scale key) of the per-lead tables.
PER_LEAD = (
    ("CSI 1", "CSI 1 mm/h", "CSI", "1.0"),
    ("CSI 5", "CSI 5 mm/h", "CSI", "5.0"),
    ("FSS 1mm 11px", "FSS 1 mm/h, 11 px", "FSS", "11"),
    ("MAE", "MAE (mm/h)", "MAE", None),
    ("BIAS 1", "BIAS 1 mm/h", "BIAS", "1.0"),
)
#: Lead times (min) of the per-lead tables, those that a run has.
TABLE_LEADS = (5, 15, 30, 60, 90, 120)
#: The motion baseline that blends pair a model with, and the blend's row name.
LK = "pysteps-extrapolation"
BLEND_SUFFIX = " + LK (50/50)"


def _cadence_minutes(inputs: xr.Dataset) -> float:
    times = inputs["time"].values
    if len(times) < 2:
        return DEFAULT_CADENCE_MINUTES
    return float((times[-1] - times[-2]) / np.timedelta64(1, "m"))


def baseline_method(name: str) -> Method:
    """A baseline as a method, told the pixel size and cadence of the inputs it is given."""
    fn = BASELINES[name]

    def run(inputs: xr.Dataset, steps: int) -> np.ndarray:
        return fn(
            inputs["rainfall_rate"].values,
            steps,
            pixel_m=pixel_size(inputs),
            cadence_minutes=_cadence_minutes(inputs),
        )

    return run


def memoized(method: Method) -> Method:
    """``method`` remembering its latest forecast. evaluate() and plot_case() hand every method
    the same inputs object per window, so a method that several rows use (a model and its
    blend) runs once per window. The forecast is made read-only since callers share it."""
    last: dict = {}

    def run(inputs: xr.Dataset, steps: int) -> np.ndarray:
        if last.get("inputs") is not inputs or last.get("steps") != steps:
            out = np.asarray(method(inputs, steps))
            out.flags.writeable = False
            last.update(inputs=inputs, steps=steps, out=out)
        return last["out"]

    return run


def blend(a: Method, b: Method) -> Method:
    """The pixelwise mean (mm/h) of two methods' forecasts; a missing pixel counts as no rain,
    as the scores count it."""

    def run(inputs: xr.Dataset, steps: int) -> np.ndarray:
        fa = np.nan_to_num(a(inputs, steps), nan=0.0)
        fb = np.nan_to_num(b(inputs, steps), nan=0.0)
        return (0.5 * (fa + fb)).astype(np.float32)

    return run


def add_blends(methods: dict[str, Method], models: Iterable[str]) -> dict[str, Method]:
    """``methods`` plus ``<model> + LK (50/50)`` (the model averaged with LK extrapolation) for
    each of ``models``. The parts are memoized, so each runs once per window even when LK is
    also scored on its own."""
    out = dict(methods)
    lk = memoized(out.get(LK) or baseline_method(LK))
    if LK in out:
        out[LK] = lk
    for name in models:
        out[name] = memoized(out[name])
        out[name + BLEND_SUFFIX] = blend(out[name], lk)
    return out


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
        window = next(iter(scores.values())).observe(observed)  # once for all methods
        for name, method in methods.items():
            scores[name].add(method(inputs, steps), window)
    return {name: s.result() for name, s in scores.items()}


def headline(result: dict, max_lead: float = 60) -> dict[str, float]:
    """The headline scores of one method, averaged over leads up to ``max_lead`` minutes."""
    leads = result["lead_minutes"]
    out = {}
    for label, key, sub in HEADLINE:
        values = result[key][sub] if sub else result[key]
        out[label] = mean_over_leads(values, leads, max_lead)
    return out


def _scores(result: dict, key: str, sub: str | None) -> list[float]:
    return result[key][sub] if sub else result[key]


def _table_leads(lead_minutes: list[float]) -> list[int]:
    """Indices of the :data:`TABLE_LEADS` that a run has."""
    return [
        k for k, lead in enumerate(lead_minutes) if any(abs(lead - t) < 1e-6 for t in TABLE_LEADS)
    ]


def format_table(results: dict[str, dict], max_lead: float = 60) -> str:
    """A terminal table: headline scores per method, CSI at 1 mm/h per lead time, then the
    :data:`PER_LEAD` scores of every method at each of :data:`TABLE_LEADS`."""
    labels = [label for label, _, _ in HEADLINE]
    w = max(26, 2 + max(map(len, results)))  # blend names are long
    lines = [f"mean over 5-{max_lead:g} min"]
    lines.append(f"{'method':<{w}}" + "".join(f"{label:>14}" for label in labels))
    for name, result in results.items():
        row = headline(result, max_lead)
        lines.append(f"{name:<{w}}" + "".join(f"{row[label]:>14.3f}" for label in labels))
    leads = next(iter(results.values()))["lead_minutes"]
    lines.append("")
    lines.append("CSI at 1 mm/h per lead time (min)")
    lines.append(f"{'method':<{w}}" + "".join(f"{lead:>7g}" for lead in leads))
    for name, result in results.items():
        lines.append(f"{name:<{w}}" + "".join(f"{v:>7.3f}" for v in result["CSI"]["1.0"]))
    for k in _table_leads(leads):
        lines.append("")
        lines.append(f"at +{leads[k]:g} min")
        lines.append(f"{'method':<{w}}" + "".join(f"{label:>14}" for label, *_ in PER_LEAD))
        for name, result in results.items():
            values = [_scores(result, key, sub)[k] for _, _, key, sub in PER_LEAD]
            lines.append(f"{name:<{w}}" + "".join(f"{v:>14.3f}" for v in values))
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a GitHub table, numbers right-aligned; a '|' in a method name is escaped."""

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [row(header), row(["---"] + ["---:"] * (len(header) - 1)), *map(row, rows)]


def _md_number(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "n/a"


def format_markdown(results: dict[str, dict], max_lead: float = 60, title: str = "") -> str:
    """GitHub Markdown for model cards and READMEs: the headline table (means over 5-``max_lead``
    min, and the frequency bias at ``max_lead`` min, where an area over-forecast shows plainly),
    then one table per lead time of :data:`TABLE_LEADS`."""
    leads = next(iter(results.values()))["lead_minutes"]
    # a run shorter than max_lead shows the bias at its longest lead
    k_bias = max((k for k, lead in enumerate(leads) if lead <= max_lead), default=0)
    mean_cols = PER_LEAD[:4]
    header = ["method", *(md for _, md, _, _ in mean_cols), f"BIAS 1 mm/h at {leads[k_bias]:g} min"]
    rows = []
    for name, result in results.items():
        means = [
            mean_over_leads(_scores(result, key, sub), leads, max_lead)
            for *_, key, sub in mean_cols
        ]
        rows.append([name, *map(_md_number, [*means, result["BIAS"]["1.0"][k_bias]])])
    lines = [f"Scores over {title}.", ""] if title else []
    lines += [f"Mean over 5-{max_lead:g} min:", "", *_md_table(header, rows)]
    header = ["method", *(md for _, md, _, _ in PER_LEAD)]
    for k in _table_leads(leads):
        rows = [
            [name, *(_md_number(_scores(r, key, sub)[k]) for *_, key, sub in PER_LEAD)]
            for name, r in results.items()
        ]
        lines += ["", f"At +{leads[k]:g} min:", "", *_md_table(header, rows)]
    return "\n".join(lines) + "\n"


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
        ("frequency bias at 1 mm/h", lambda r: r["BIAS"]["1.0"]),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(17, 7), constrained_layout=True)
    for ax, (label, get) in zip(axes.ravel(), panels, strict=False):
        for name, result in results.items():
            ax.plot(result["lead_minutes"], get(result), marker="o", ms=3, label=name)
        ax.set_title(label)
        ax.set_xlabel("lead time (min)")
        ax.grid(alpha=0.3)
    axes[1, 2].axhline(1.0, color="k", lw=0.8)  # an unbiased rain area
    axes[1, 3].set_visible(False)
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
    """Write ``scores.json``, ``scores.txt``, ``scores.md`` and ``skill.png`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta or {},
        "methods": results,
        "headline_5_60min": {name: headline(r) for name, r in results.items()},
    }
    (folder / "scores.json").write_text(json.dumps(payload, indent=1, default=float))
    (folder / "scores.txt").write_text(format_table(results) + "\n")
    (folder / "scores.md").write_text(format_markdown(results, title=(meta or {}).get("title", "")))
    return {
        "json": folder / "scores.json",
        "table": folder / "scores.txt",
        "markdown": folder / "scores.md",
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
