"""``nowcast evaluate --probabilistic``: the service's exceedance probabilities against STEPS.

For every window, the model's deterministic nowcast becomes probabilities by
:func:`radar.probability.exceedance` (what every job serves) and pysteps STEPS gives an
ensemble whose ``excprob`` is the reference; both are scored against the observation with
pysteps' reliability diagram and ROC curve, and the Brier skill score against the sample
climatology of the observations, per lead time and threshold. ``--fit`` instead searches the
neighbourhood's two parameters on the data given (validation data only) by the Brier score.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np

THRESHOLDS = (0.1, 1.0, 5.0)
TABLE_LEADS = (5, 15, 30, 60, 90, 120)


def steps_excprob(
    frames: np.ndarray, steps: int, thresholds, members: int, pixel_km: float, cadence: float,
    seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """``[threshold, lead, y, x]`` exceedance probabilities of a pysteps STEPS ensemble."""
    from pysteps.nowcasts import steps as steps_method
    from pysteps.postprocessing.ensemblestats import excprob
    from pysteps.utils.transformation import dB_transform

    from radar.motion import estimate_motion

    velocity = estimate_motion(frames, "lk", 3)
    db, meta = dB_transform(np.nan_to_num(frames[-3:], nan=0.0), threshold=0.1, zerovalue=-15.0)
    with contextlib.redirect_stdout(io.StringIO()):
        ens = steps_method.forecast(
            db, velocity, steps, n_ens_members=members, n_cascade_levels=6,
            precip_thr=meta["threshold"], kmperpixel=pixel_km, timestep=cadence,
            noise_method="nonparametric", vel_pert_method="bps", mask_method="incremental",
            seed=seed, num_workers=1,
        )  # fmt: skip
    rain, _ = dB_transform(ens, threshold=meta["threshold"], inverse=True)
    rain = np.nan_to_num(rain, nan=0.0)
    return np.stack(
        [np.stack([excprob(rain[:, k], t) for k in range(steps)]) for t in thresholds]
    ).astype(np.float32)


def _brier(prob: np.ndarray, obs: np.ndarray) -> tuple[float, float, int]:
    ok = np.isfinite(prob) & np.isfinite(obs)
    p, o = prob[ok], obs[ok]
    return float(((p - o) ** 2).sum()), float(o.sum()), int(ok.sum())


class Scores:
    """Accumulated scores of one method: per threshold and lead, Brier sums, pysteps'
    reliability diagram and ROC curve."""

    def __init__(self, thresholds, steps: int):
        from pysteps.verification import probscores

        self.ps = probscores
        self.bs = np.zeros((len(thresholds), steps))
        self.hits = np.zeros_like(self.bs)
        self.n = np.zeros_like(self.bs)
        self.rel = [probscores.reldiag_init(t, n_bins=10) for t in thresholds]
        self.roc = [[probscores.ROC_curve_init(t, 10) for _ in range(steps)] for t in thresholds]

    def add(self, prob: np.ndarray, observed: np.ndarray, thresholds) -> None:
        for j, t in enumerate(thresholds):
            for k in range(observed.shape[0]):
                truth = np.where(np.isfinite(observed[k]), observed[k] >= t, np.nan)
                bs, hits, n = _brier(prob[j, k], truth)
                self.bs[j, k] += bs
                self.hits[j, k] += hits
                self.n[j, k] += n
                p = np.where(np.isfinite(observed[k]), prob[j, k], np.nan)
                self.ps.reldiag_accum(self.rel[j], p, observed[k])
                self.ps.ROC_curve_accum(self.roc[j][k], p, observed[k])

    def result(self) -> dict:
        base = self.hits / np.maximum(self.n, 1)  # sample climatology per threshold and lead
        bs = self.bs / np.maximum(self.n, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            bss = 1.0 - bs / (base * (1 - base))
        areas = [
            [self.ps.ROC_curve_compute(r, compute_area=True)[2] for r in row] for row in self.roc
        ]
        return {"brier": bs.tolist(), "bss": np.where(np.isfinite(bss), bss, np.nan).tolist(),
                "roc_area": areas, "base_rate": base.tolist()}  # fmt: skip


def fit(windows, method, t_in: int, steps: int, cadence: float, output: Path) -> dict:
    """Grid search of (radius at lead 0, growth per minute) by the Brier score summed over
    thresholds and leads; the forecasts are computed once."""
    from radar.grids import pixel_size
    from radar.probability import exceedance

    cases = []
    for i in range(len(windows)):
        ds = windows.dataset(i)
        rain = ds["rainfall_rate"].values
        cases.append((method(ds.isel(time=slice(0, t_in)), steps), rain[t_in:], pixel_size(ds)))
    leads = cadence * np.arange(1, steps + 1)
    grid = {}
    for offset in (0.0, 1.0, 2.0, 4.0):
        for slope in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0):
            total = 0.0
            for forecast, observed, px in cases:
                prob = exceedance(forecast, THRESHOLDS, leads, px / 1000, offset, slope)
                for j, t in enumerate(THRESHOLDS):
                    truth = np.where(np.isfinite(observed), observed >= t, np.nan)
                    bs, _, n = _brier(prob[j], truth)
                    total += bs / max(n, 1)
            grid[f"{offset},{slope}"] = total
            print(f"offset {offset} km, slope {slope} km/min: Brier sum {total:.5f}", flush=True)
    best = min(grid, key=grid.get)
    offset, slope = (float(v) for v in best.split(","))
    result = {"best": {"offset_km": offset, "slope_km_per_min": slope}, "brier_sum": grid,
              "windows": len(windows)}  # fmt: skip
    output.mkdir(parents=True, exist_ok=True)
    (output / "fit.json").write_text(json.dumps(result, indent=1))
    return result


def verify(
    windows, method, name: str, t_in: int, steps: int, cadence: float, members: int, output: Path
) -> dict:
    """Scores of the service's probabilities and of STEPS on every window, with figures."""
    from radar.grids import pixel_size
    from radar.probability import exceedance

    leads = cadence * np.arange(1, steps + 1)
    scores = {
        name: Scores(THRESHOLDS, steps),
        f"STEPS ({members} members)": Scores(THRESHOLDS, steps),
    }
    cost = {name: [], f"STEPS ({members} members)": []}
    for i in range(len(windows)):
        ds = windows.dataset(i)
        rain = ds["rainfall_rate"].values
        observed, px = rain[t_in:], pixel_size(ds) / 1000
        forecast = method(ds.isel(time=slice(0, t_in)), steps)
        clock = time.perf_counter()
        prob = exceedance(forecast, THRESHOLDS, leads, px)
        cost[name].append(time.perf_counter() - clock)
        scores[name].add(prob, observed, THRESHOLDS)
        clock = time.perf_counter()
        ens = steps_excprob(rain[:t_in], steps, THRESHOLDS, members, px, cadence, seed=i)
        cost[f"STEPS ({members} members)"].append(time.perf_counter() - clock)
        scores[f"STEPS ({members} members)"].add(ens, observed, THRESHOLDS)
        print(f"window {i + 1}/{len(windows)} done", flush=True)
    results = {k: {**s.result(), "seconds_per_nowcast": float(np.median(cost[k]))}
               for k, s in scores.items()}  # fmt: skip
    output.mkdir(parents=True, exist_ok=True)
    meta = {"windows": len(windows), "thresholds": THRESHOLDS, "lead_minutes": leads.tolist()}
    (output / "probabilistic.json").write_text(json.dumps({"meta": meta, **results}, indent=1))
    _figures(scores, results, leads, output)
    (output / "probabilistic.md").write_text(_table(results, leads))
    return results


def _figures(scores: dict, results: dict, leads: np.ndarray, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(THRESHOLDS), figsize=(4.2 * len(THRESHOLDS), 4.2))
    for j, (ax, t) in enumerate(zip(axes, THRESHOLDS, strict=True)):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        for name, s in scores.items():
            r = s.rel[j]
            rel = s.ps.reldiag_compute(r)
            ax.plot(rel[0], rel[1], marker="o", label=name)
        ax.set_title(f"reliability, >= {t:g} mm/h, all leads")
        ax.set_xlabel("forecast probability")
        ax.set_ylabel("observed frequency")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output / "reliability.png", dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, res in results.items():
        for j, t in enumerate(THRESHOLDS):
            axes[0].plot(leads, res["bss"][j], label=f"{name} >= {t:g}")
            axes[1].plot(leads, res["roc_area"][j], label=f"{name} >= {t:g}")
    axes[0].set_title("Brier skill score (vs sample climatology)")
    axes[1].set_title("ROC area")
    for ax in axes:
        ax.set_xlabel("lead (min)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output / "bss_roc.png", dpi=90)
    plt.close(fig)


def _table(results: dict, leads: np.ndarray) -> str:
    shown = [m for m in TABLE_LEADS if m in leads]
    lines = ["| method | threshold | score | " + " | ".join(f"{m} min" for m in shown) + " |",
             "|---|---|---|" + "---|" * len(shown)]  # fmt: skip
    for name, res in results.items():
        for j, t in enumerate(THRESHOLDS):
            for key, label in (("bss", "BSS"), ("roc_area", "ROC area")):
                cells = [res[key][j][list(leads).index(m)] for m in shown]
                text = " | ".join("" if not np.isfinite(c) else f"{c:.3f}" for c in cells)
                lines.append(f"| {name} | {t:g} mm/h | {label} | {text} |")
    costs = ", ".join(f"{k} {v['seconds_per_nowcast']:.2f} s" for k, v in results.items())
    return "\n".join(lines) + f"\n\nCost per nowcast (median, probabilities only): {costs}\n"
