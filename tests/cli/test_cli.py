"""The ``nowcast`` command: inspect and convert on real files; user errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nowcast.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nowcast", *args], capture_output=True, text=True, timeout=120
    )


def test_inspect_json(dwd_dir: Path, capsys) -> None:
    files = sorted((dwd_dir / "radolan_to_netcdf/radolan_ry").glob("*.gz"))
    assert main(["inspect", "--json", *map(str, files)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["product"] == "RY" and info["frames"] == 13 and info["cadence_minutes"] == 5
    assert info["grid"] == "national" and info["shape"] == [900, 900] and info["units"] == "mm h-1"
    assert info["first_time"] == "2020-01-01T15:00:00Z"
    assert 0 < info["wet_fraction"] < 0.01  # the shared RY sequence is nearly dry


def test_inspect_text_on_odim(dwd_dir: Path) -> None:
    proc = run("inspect", str(dwd_dir / "odim_ry/20250604_1630_RY.h5"))
    assert proc.returncode == 0, proc.stderr
    assert "de1200" in proc.stdout and "odim-h5" in proc.stdout


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(b"hello world" * 100)
    for args in (
        ["inspect", str(bad)],
        ["inspect", str(tmp_path / "missing.h5")],
        ["convert", str(bad), "-o", str(tmp_path / "x.nc")],
    ):
        proc = run(*args)
        assert proc.returncode == 2, proc
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nowcast: error:"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_unknown_subcommand_is_a_usage_error() -> None:
    proc = run("frobnicate")
    assert proc.returncode == 2 and "No such command" in proc.stderr


def test_bench_io_reports_every_case(dwd_dir: Path, capsys) -> None:
    assert main(["bench", "io", "--data", str(dwd_dir.parent), "--repeat", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    cases = [row["case"] for row in rows]
    assert any("ODIM_H5 RY DE1200" in c for c in cases) and any(
        "RADOLAN RY 900x900" in c for c in cases
    )
    assert all(row["median_s"] > 0 for row in rows)


def test_bench_service_smoke(dwd_dir: Path, tmp_path: Path, capsys) -> None:
    """The service benchmark runs end to end (a persistence model; figures are not asserted)."""
    import pytest

    pytest.importorskip("onnx")
    from tests.onnx_fixtures import persistence_model

    persistence_model(tmp_path / "p.onnx")
    code = main(
        [
            "bench",
            "service",
            "--data",
            str(dwd_dir.parent),
            "--model-dir",
            str(tmp_path),
            "--requests",
            "5",
            "--fresh",
            "1",
            "--steps",
            "2",
            "--json",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows["cache_hit"]["n"] == 5 and rows["fresh_nowcast_s"]["n"] == 1
    assert rows["speed_ratio_pysteps_over_service"] > 0
    assert rows["time_ratio_service_over_pysteps"] == pytest.approx(
        1 / rows["speed_ratio_pysteps_over_service"]
    )
    assert set(rows["phases_s"]) == {"decode", "prepare", "inference", "regrid", "encode"}


def _bench_models(*options: str) -> int:
    """``nowcast bench models`` on the ConvLSTM pair with ``options``."""
    return main(["bench", "models", "--variants", "convlstm,ms-convlstm", *options])


def test_bench_models_prints_the_cost_table(capsys):
    pytest.importorskip("torch")
    code = _bench_models("--no-memory", "--no-ort", "--size", "64")
    assert code == 0
    rows = {
        line.split("|")[1].strip(): line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and "variant" not in line
    }
    assert set(rows) == {"convlstm", "ms-convlstm"}
    ratio = float(rows["ms-convlstm"].split("|")[4])
    assert ratio == pytest.approx(0.4375, abs=0.003)


def test_bench_models_measures_advection_aware_training_steps(capsys):
    pytest.importorskip("torch")
    code = _bench_models(
        *("--advection", "lagrangian", "--no-ort", "--size", "32", "--hidden", "4"),
        *("--patch", "4", "--t-in", "2", "--t-out", "2", "--batch", "2"),
        *("--step-repeat", "1", "--json"),
    )
    assert code == 0
    rows = {r["variant"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"convlstm", "ms-convlstm"}
    for row in rows.values():  # the motion input was fed: the step ran and was timed
        assert row["train_step_MB"] > 0
        assert row["train_step_s"] > 0
    ms, flat = rows["ms-convlstm"], rows["convlstm"]
    assert ms["step_ms/flat"] == pytest.approx(ms["train_step_s"] / flat["train_step_s"])
    # the pyramid saves MACs in the advection mode as in the plain one
    assert ms["MACs_ms/flat"] < 0.6


def test_the_model_choices_of_the_cli_are_the_engines() -> None:
    # the CLI writes them out so that `nowcast --help` need not import the engine's stack
    import click

    from nowcast.commands import evaluate, export
    from radar.motion import MOTION_GRIDS
    from workers.engine import IN_GRAPH, POSTPROCESSING

    def choices(command: click.Command, name: str) -> tuple[str, ...]:
        option = next(p for p in command.params if p.name == name)
        return tuple(option.type.choices)

    assert choices(export.command, "postprocess") == POSTPROCESSING
    # evaluate re-runs a graph with other postprocessing after it, so not the in-graph ones
    after = tuple(p for p in POSTPROCESSING if p not in IN_GRAPH)
    assert choices(evaluate.command, "postprocess") == after
    assert choices(export.command, "motion_grid") == MOTION_GRIDS
