"""``nowcast bench ...``: speed and memory figures, printed as tables (and JSON on request).

Benchmarks report what they measured on this machine; they assert nothing. Targets (such as
under 0.2 s to read a frame) are for the reader of the table to compare against.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import click

DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _data_option(help_text: str):
    """``--data``: the shared data folder the benchmark reads its frames from."""
    return click.option(
        "--data",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_SHARED,
        show_default=True,
        help=help_text,
    )


_MODEL_DIR_OPTION = click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Models to serve (default: NOWCAST_MODEL_DIR or the shipped models).",
)


@click.group("bench", help="Speed and memory figures (io, models, service).")
def command() -> None:
    pass


def _time(fn, repeat: int) -> list[float]:
    fn()  # warm-up: imports, caches
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


@command.command("io", help="Seconds to read one frame of each DWD format (target < 0.2 s).")
@_data_option("The shared data folder.")
@click.option("--repeat", default=10, show_default=True, help="Timed reads per file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench_io(data: Path, repeat: int, as_json: bool) -> None:
    from radar.netcdf import write_netcdf
    from radar.sequence import read_sequence

    cases = {
        "ODIM_H5 RY DE1200 1200x1100": data / "dwd/odim_ry/20250604_1630_RY.h5",
        "RADOLAN RY 900x900 (.gz)": data
        / "dwd/radolan_to_netcdf/radolan_ry/raa01-ry_10000-2001011500-dwd---bin.gz",
        "RADOLAN RX 900x900 (.gz, dBZ)": data
        / "dwd/wradlib-data/radolan/showcase/raa01-rx_10000-1408102050-dwd---bin.gz",
        "RADVOR RV DE1200 25 members (.tar.bz2)": data
        / "dwd/dwd_utils/DE1200_RV2506151820.tar.bz2",
    }
    missing = [str(p) for p in cases.values() if not p.exists()]
    if missing:
        raise click.ClickException(f"sample data not found: {missing[0]} (use --data)")
    rows = []
    for label, path in cases.items():
        reps = max(1, repeat // 5) if "25 members" in label else repeat
        times = _time(lambda p=path: read_sequence(p), reps)
        rows.append(
            {
                "case": f"read {label}",
                "median_s": statistics.median(times),
                "min_s": min(times),
                "n": reps,
            }
        )
    rv = read_sequence(cases["RADVOR RV DE1200 25 members (.tar.bz2)"])
    times = _time(lambda: write_netcdf(rv), 2)
    rows.append(
        {
            "case": "write NetCDF 25 x DE1200 (with lat/lon)",
            "median_s": statistics.median(times),
            "min_s": min(times),
            "n": 2,
        }
    )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'case':<52} {'median s':>9} {'min s':>8} {'n':>3}")
    for row in rows:
        click.echo(f"{row['case']:<52} {row['median_s']:>9.3f} {row['min_s']:>8.3f} {row['n']:>3}")


@command.command("probability", help="Seconds for exceedance probabilities of a DE1200 nowcast.")
@_data_option("The shared data folder.")
@click.option("--repeat", default=3, show_default=True, help="Timed runs per case.")
def bench_probability(data: Path, repeat: int) -> None:
    import numpy as np

    from radar.grids import pixel_size
    from radar.probability import DEFAULT_THRESHOLDS, exceedance
    from radar.sequence import read_sequence

    path = data / "dwd/odim_ry/20250604_1630_RY.h5"
    if not path.exists():
        raise click.ClickException(f"sample data not found: {path} (use --data)")
    ds = read_sequence(path)
    frame = ds["rainfall_rate"].values[-1]
    # 24 leads of 5 min: the observed frame moved 1 and 2 pixels a step (as a nowcast moves it)
    rain = np.stack([np.roll(frame, (k, 2 * k), axis=(0, 1)) for k in range(24)])
    leads = [5.0 * (k + 1) for k in range(24)]
    km = pixel_size(ds) / 1000.0
    times = _time(lambda: exceedance(rain, DEFAULT_THRESHOLDS, leads, km), repeat)
    click.echo(
        f"24 leads x 3 thresholds, DE1200: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s ({repeat} runs)"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def _rv_frames(data: Path) -> list[tuple[str, bytes]]:
    """The DE1200 RADVOR archive's members as 25 consecutive 5-minute DE1200 frames."""
    from radar.sources import load

    return [
        (b.name.rsplit(":", 1)[-1], b.data)
        for b in load(data / "dwd/dwd_utils/DE1200_RV2506151820.tar.bz2")
    ]


def _ry_frames(data: Path) -> list[tuple[str, bytes]]:
    """Five consecutive RADOLAN RY frames (2025-11-16 13:45-14:05) as DWD publishes them (bz2,
    some 40 KB each)."""
    folder = data / "dwd/martines1_ry"
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob("raa01-ry_10000-251116*"))]


def _median_phases(records: list[dict]) -> dict[str, float]:
    """Median seconds per phase over job records' ``timings``."""
    return {k: statistics.median([r.get(k, 0.0) for r in records]) for k in records[0]}


def _in_process_phases(
    model_dir: Path, model: str, window: list[tuple[str, bytes]], steps: int
) -> dict[str, float]:
    """Phase timings of one job run by the worker's own function in this process."""
    from radar.grids import latlon
    from radar.sequence import read_sequence
    from radar.sources import Blob
    from workers.nowcast_job import EngineCache, run_job
    from workers.seam import now_iso
    from workers.store import MemoryJobStore

    store = MemoryJobStore()
    engines = EngineCache(model_dir, device=None)
    # a running worker has its session, the readers' imports and its grid's lat/lon (cached
    # per grid) warm: not part of a job's cost
    engines(model)
    latlon(read_sequence([Blob(name, data) for name, data in window]))
    job = {"id": "bench", "status": "queued", "model": model, "steps": steps, "created": now_iso()}
    store.create(job, window)
    if run_job("bench", store, engines) != "succeeded":
        raise click.ClickException(f"in-process nowcast failed: {store.get('bench')['error']}")
    return store.get("bench")["timings"]


@command.command("service", help="Cache-hit throughput, fresh DE1200 nowcast latency, and pysteps.")
@_data_option("The shared data folder.")
@_MODEL_DIR_OPTION
@click.option(
    "--requests", "n_requests", default=200, show_default=True, help="Cache-hit requests."
)
@click.option("--fresh", default=3, show_default=True, help="Fresh nowcasts to time.")
@click.option(
    "--steps",
    default=24,
    show_default=True,
    help="Lead steps of every nowcast and of pysteps (24 = 2 h at 5 min).",
)
@click.option(
    "--split/--no-split",
    default=True,
    show_default=True,
    help="Report the worker's time per phase (one more in-process job when the API hides it).",
)
@click.option("--json", "as_json", is_flag=True)
def bench_service(
    data: Path,
    model_dir: Path | None,
    n_requests: int,
    fresh: int,
    steps: int,
    split: bool,
    as_json: bool,
) -> None:
    import os
    import subprocess
    import sys

    import httpx

    from models.baselines import pysteps_extrapolation
    from radar.sequence import read_sequence
    from radar.sources import Blob
    from workers.seam import Catalog, get_settings

    model_dir = model_dir or get_settings().model_dir
    catalog = Catalog.read(model_dir, get_settings().default_model)
    if not catalog.models:
        raise click.ClickException(f"no models in {model_dir}")
    model = catalog.require()
    frames = _rv_frames(data)
    t_in = model.t_in
    if len(frames) < t_in + fresh:
        raise click.ClickException("not enough sample frames for that many fresh runs")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "NOWCAST_REDIS_URL")}
    env["NOWCAST_MODEL_DIR"] = str(model_dir)
    server = subprocess.Popen(
        [sys.executable, "-m", "nowcast", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    rows: dict = {"model": model.name, "t_in": t_in, "steps": steps, "grid": "DE1200 1200x1100"}
    try:
        with httpx.Client(base_url=base, timeout=600) as client:
            # a loaded machine can take far longer than usual to import and start the server
            deadline = time.monotonic() + 300
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise click.ClickException("the benchmark server did not start")
                time.sleep(0.2)

            def run(window: list[tuple[str, bytes]]) -> tuple[dict, float]:
                start = time.perf_counter()
                r = client.post(
                    "/nowcast", files=[("frames", f) for f in window], data={"steps": str(steps)}
                )
                r.raise_for_status()
                job_id = r.json()["id"]
                while (job := client.get(f"/jobs/{job_id}").json())["status"] not in (
                    "succeeded",
                    "failed",
                ):
                    time.sleep(0.05)
                if job["status"] != "succeeded":
                    raise click.ClickException(f"nowcast failed: {job['error']}")
                client.get(f"/jobs/{job_id}/result").raise_for_status()
                return job, time.perf_counter() - start

            jobs, latencies = zip(*(run(frames[k : k + t_in]) for k in range(fresh)), strict=True)
            rows["fresh_nowcast_s"] = {
                "median": statistics.median(latencies),
                "min": min(latencies),
                "n": fresh,
            }
            computes = [j["compute_seconds"] for j in jobs if j.get("compute_seconds")]
            if computes:  # the worker's share; the rest is HTTP, queueing and polling
                rows["worker_compute_s"] = {
                    "median": statistics.median(computes),
                    "n": len(computes),
                }
            if split and all(j.get("timings") for j in jobs):
                rows["phases_s"] = _median_phases([j["timings"] for j in jobs])
                rows["phases_from"] = "job records"
            window = [("frames", f) for f in frames[:t_in]]
            hits = []
            start_all = time.perf_counter()
            for _ in range(n_requests):
                start = time.perf_counter()
                r = client.post("/nowcast", files=window, data={"steps": str(steps)})
                hits.append(time.perf_counter() - start)
                if r.status_code != 200:
                    raise click.ClickException(f"expected a cache hit, got {r.status_code}")
            total = time.perf_counter() - start_all
            rows["cache_hit"] = {
                "requests_per_s": n_requests / total,
                "p50_ms": _percentile(hits, 50) * 1e3,
                "p99_ms": _percentile(hits, 99) * 1e3,
                "n": n_requests,
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    if split and "phases_s" not in rows:
        # the API does not show the job record's timings: run the worker's job function here
        rows["phases_s"] = _in_process_phases(model_dir, model.name, frames[:t_in], steps)
        rows["phases_from"] = "one in-process run_job"
    # pysteps on the same frames, in this process, at the native grid
    ds = read_sequence([Blob(n, b) for n, b in frames[: max(t_in, 3)]])
    rain = ds["rainfall_rate"].values
    times = []
    for _ in range(fresh):
        start = time.perf_counter()
        pysteps_extrapolation(rain, steps)
        times.append(time.perf_counter() - start)
    rows["pysteps_lk_extrapolation_s"] = {
        "median": statistics.median(times),
        "min": min(times),
        "n": fresh,
    }
    rows["speed_ratio_pysteps_over_service"] = (
        rows["pysteps_lk_extrapolation_s"]["median"] / rows["fresh_nowcast_s"]["median"]
    )
    # the issue's target reads this way round: service time at most 0.5 of pysteps' time
    rows["time_ratio_service_over_pysteps"] = 1.0 / rows["speed_ratio_pysteps_over_service"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(
        f"model {rows['model']} (t_in {t_in}), {steps} steps on {rows['grid']}, embedded server"
    )
    f, c, p = rows["fresh_nowcast_s"], rows["cache_hit"], rows["pysteps_lk_extrapolation_s"]
    click.echo(
        f"fresh nowcast, end to end (POST, poll, GET NetCDF): median {f['median']:.2f} s, "
        f"min {f['min']:.2f} s (n={f['n']})"
    )
    if "worker_compute_s" in rows:
        click.echo(f"  of which worker compute: median {rows['worker_compute_s']['median']:.2f} s")
    if "phases_s" in rows:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in rows["phases_s"].items())
        click.echo(f"  worker phases, s ({rows['phases_from']}): {phases}")
    click.echo(
        f"cache hits: {c['requests_per_s']:.1f} req/s, p50 {c['p50_ms']:.1f} ms, "
        f"p99 {c['p99_ms']:.1f} ms (n={c['n']})"
    )
    click.echo(
        f"pysteps LK + semi-Lagrangian extrapolation, same frames, {steps} steps: "
        f"median {p['median']:.2f} s"
    )
    click.echo(
        f"service / pysteps time ratio: {rows['time_ratio_service_over_pysteps']:.2f}"
        f" (pysteps / service: {rows['speed_ratio_pysteps_over_service']:.2f}; < 1: the "
        "service is faster)"
    )


@command.command("models", help="Parameters, MACs, training memory and ORT time of the variants.")
@click.option("--variants", default=None, help="Comma-separated variants (default: all 18).")
@click.option("--size", default=128, show_default=True, help="Frame size (pixels, square).")
@click.option("--hidden", default=64, show_default=True, help="Channels per layer.")
@click.option("--patch", default=1, show_default=True, help="Space-to-depth patch.")
@click.option("--t-in", default=5, show_default=True)
@click.option("--t-out", default=5, show_default=True)
@click.option(
    "--advection",
    type=click.Choice(["none", "lagrangian", "residual", "cascade"]),
    default="none",
    show_default=True,
    help="Measure the variants in this advection-aware mode (fed a motion field).",
)
@click.option("--batch", default=1, show_default=True, help="Windows per training step.")
@click.option(
    "--step-repeat",
    default=0,
    show_default=True,
    help="Also time this many training steps after the first (median, train_step_s).",
)
@click.option("--no-memory", is_flag=True, help="Skip the training-step memory measurement.")
@click.option("--no-ort", is_flag=True, help="Skip the onnxruntime timing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench_models(
    variants: str | None,
    size: int,
    hidden: int,
    patch: int,
    t_in: int,
    t_out: int,
    advection: str,
    batch: int,
    step_repeat: int,
    no_memory: bool,
    no_ort: bool,
    as_json: bool,
) -> None:
    from models import profile
    from models.registry import VARIANTS, flat_twin

    names = variants.split(",") if variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise click.ClickException(f"unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}")
    config = {"hidden": hidden, "patch": patch, "t_in": t_in, "t_out": t_out}
    if advection != "none":
        config["advection"] = advection
    rows: dict[str, dict] = {}
    for name in names:
        click.echo(f"measuring {name} ...", err=True)
        row = {
            "variant": name,
            "params_M": profile.parameters(name, **config) / 1e6,
            "GMACs": profile.macs(name, size, **config) / 1e9,
        }
        if not no_memory or step_repeat:
            cost = profile.train_step_cost(name, size, batch, step_repeat, **config)
            if not no_memory:
                row["train_step_MB"] = cost["peak_step_bytes"] / 2**20
            if step_repeat:
                row["train_step_s"] = cost["step_seconds"]
        if not no_ort:
            row["ort_s"] = profile.ort_seconds(name, size, **config)
        rows[name] = row
    for name, row in rows.items():
        flat = rows.get(flat_twin(name))
        if VARIANTS[name][1] and flat:
            row["MACs_ms/flat"] = row["GMACs"] / flat["GMACs"]
            if "train_step_MB" in row:
                row["memory_ms/flat"] = row["train_step_MB"] / flat["train_step_MB"]
            if "train_step_s" in row:
                row["step_ms/flat"] = row["train_step_s"] / flat["train_step_s"]
    if as_json:
        click.echo(json.dumps(list(rows.values()), indent=2))
        return
    cols = [
        "variant",
        "params_M",
        "GMACs",
        "MACs_ms/flat",
        "train_step_MB",
        "memory_ms/flat",
        "train_step_s",
        "step_ms/flat",
        "ort_s",
    ]
    cols = [c for c in cols if any(c in r for r in rows.values())]
    click.echo(
        f"# {size}x{size}, {t_in} -> {t_out} frames, hidden {hidden}, patch {patch}, "
        f"advection {advection}, batch {batch} (training; ORT batch 1), CPU"
    )
    click.echo("| " + " | ".join(cols) + " |")
    click.echo("|" + "---|" * len(cols))
    for row in rows.values():
        cells = []
        for c in cols:
            v = row.get(c, "")
            cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
        click.echo("| " + " | ".join(cells) + " |")


@command.command("fuzz", help="Hostile inputs for every reader (mutated sample files).")
@_data_option("The shared data folder (one sample per format, radar.fuzzing.SEEDS).")
@click.option("--inputs", default=10_000, show_default=True, help="Inputs per format.")
@click.option("--seed", default=0, show_default=True, help="Run seed (any input can be redone).")
@click.option("--formats", default=None, help="Comma-separated formats (default: all).")
@click.option(
    "--save",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the inputs that escaped, hung, crashed or were slow here.",
)
@click.option("--json", "as_json", is_flag=True)
def bench_fuzz(
    data: Path, inputs: int, seed: int, formats: str | None, save: Path | None, as_json: bool
) -> None:
    import os

    from radar.fuzzing import SEEDS, SLOW_S, fuzz_isolated

    names = formats.split(",") if formats else list(SEEDS)
    unknown = [n for n in names if n not in SEEDS]
    if unknown:
        raise click.ClickException(f"no sample for {unknown[0]}; formats: {', '.join(SEEDS)}")
    rows = []
    for fmt in names:
        start = time.perf_counter()
        report = fuzz_isolated(fmt, data, inputs, seed, save, progress=lambda r: click.echo(
            f"{r.format}: {r.inputs} inputs, escaped {dict(r.escaped)}, hangs {r.hangs}, "
            f"over {SLOW_S:g} s {r.slow}, slowest {r.slowest_s:.3f} s", err=True))  # fmt: skip
        row = {
            "format": fmt,
            "inputs": report.inputs,
            "accepted": report.accepted,
            "refused": dict(report.refused),
            "escaped": dict(report.escaped),
            "hangs": report.hangs,
            f"over_{SLOW_S:g}s": report.slow,
            "p99_s": round(report.percentile_s(99), 3),
            "slowest_s": round(report.slowest_s, 3),
            "slowest_mutation": report.slowest_mutation,
            "examples": report.examples,
            "run_s": round(time.perf_counter() - start, 1),
        }
        rows.append(row)
        if not as_json:
            refused = ", ".join(f"{k} {v}" for k, v in sorted(row["refused"].items())) or "-"
            escaped = ", ".join(f"{k} {v}" for k, v in sorted(row["escaped"].items())) or "none"
            click.echo(
                f"{fmt:<14} {row['inputs']:>6} inputs: {row['accepted']} read, refused "
                f"({refused}); escaped: {escaped}; hangs {row['hangs']}; over {SLOW_S:g} s CPU "
                f"{report.slow}; p99 {row['p99_s']:.3f} s, slowest {row['slowest_s']:.3f} s "
                f"({row['slowest_mutation']}); "
                f"{row['run_s']:.0f} s"
            )
            for kind, example in report.examples.items():
                click.echo(f"    {kind}: {example}")
    load = os.getloadavg()
    if as_json:
        click.echo(json.dumps({"formats": rows, "load_average": load}, indent=2))
    else:
        click.echo(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


@command.command("load", help="Bounded load test on loopback: cache hits, then a burst.")
@_data_option("The shared data folder (the DE1200 RADVOR frames are sent).")
@_MODEL_DIR_OPTION
@click.option(
    "--redis-url", default="redis://127.0.0.1:6379/0", show_default=True, help="The real Redis."
)
@click.option("--duration", default=60.0, show_default=True, help="Seconds of cache hits.")
@click.option("--concurrency", default=4, show_default=True, help="Cache-hit clients.")
@click.option("--burst", "n_burst", default=24, show_default=True, help="Fresh jobs at once.")
@click.option("--drain", "drain_s", default=900.0, show_default=True,
              help="Most seconds to wait for the burst's jobs to end.")  # fmt: skip
@click.option("--frames", "kind", type=click.Choice(["de1200", "ry"]), default="de1200",
              show_default=True, help="Four DE1200 RADVOR frames (10.6 MB a request) or four "
              "RADOLAN RY frames as DWD publishes them (bz2, 0.16 MB).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def bench_load(
    data: Path,
    model_dir: Path | None,
    kind: str,
    redis_url: str,
    duration: float,
    concurrency: int,
    n_burst: int,
    drain_s: float,
    as_json: bool,
) -> None:
    import tempfile

    from nowcast.loadtest import run
    from workers.seam import get_settings

    figures = run(
        _rv_frames(data) if kind == "de1200" else _ry_frames(data),
        model_dir or get_settings().model_dir,
        redis_url,
        duration,
        concurrency,
        n_burst,
        drain_s,
        Path(tempfile.gettempdir()) / "nowcast-load",
    )
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    h, b = figures["cache_hits"], figures["burst"]
    click.echo(
        f"model {figures['model']} (t_in {figures['t_in']}, {figures['steps']} steps), "
        f"{figures['upload_mb']:.1f} MB per request, real Redis + one nowcast worker"
    )
    click.echo(
        f"cache hits, {concurrency} clients for {duration:g} s: {h['rate_per_s']:.1f} req/s, "
        f"p50 {h['p50_ms']:.1f} ms, p99 {h['p99_ms']:.1f} ms, max {h['max_ms']:.1f} ms, "
        f"errors {h['errors']} (n={h['requests']})"
    )
    s = b["submit"]
    click.echo(
        f"burst of {b['jobs']} fresh jobs: accepted in p50 {s['p50_ms']:.0f} ms, p99 "
        f"{s['p99_ms']:.0f} ms, errors {s['errors']}; queue depth after submitting "
        f"{b['queue_depth_after_submit']}; {b['succeeded']} succeeded, {b['failed']} failed, "
        f"{b['unfinished']} unfinished after {b['drain_s']:.0f} s"
    )
    samples = figures["samples"]
    depth = [(x["t"], x["queue"]) for x in samples]
    step = max(1, len(depth) // 20)
    click.echo("queue depth over time (s: depth): " + ", ".join(f"{t:g}: {q}" for t, q in
                                                                 depth[::step]))  # fmt: skip
    labels = sorted({k for x in samples for k in x if k not in ("t", "queue")})
    for label in labels:
        values = [x[label] for x in samples if x.get(label) is not None]
        if values:
            click.echo(f"RSS {label}: median {statistics.median(values):.0f} MB, "
                       f"max {max(values):.0f} MB")  # fmt: skip
    load = figures["load_average"]
    click.echo(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
