"""Baselines behave as their definitions say; evaluate() scores every method on the same windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pysteps")

from models.baselines import BASELINES, persistence  # noqa: E402
from models.evaluation import baseline_method, evaluate, headline, save_results  # noqa: E402
from models.metrics import SkillScores  # noqa: E402
from nowcast.cli import main  # noqa: E402
from nowcast.commands.evaluate import onnx_method  # noqa: E402
from radar.netcdf import write_netcdf  # noqa: E402
from radar.synthetic import synthetic_sequence  # noqa: E402
from radar.windows import Windows, index_frames  # noqa: E402
from tests.onnx_fixtures import persistence_model  # noqa: E402


def moving_rain(frames: int = 16):
    return synthetic_sequence(
        frames=frames, height=96, width=96, cells=4, velocity=(2.0, 1.0), seed=11
    )


def test_persistence_repeats_the_last_frame() -> None:
    frames = moving_rain()["rainfall_rate"].values[:4]
    out = persistence(frames, 5)
    assert out.shape == (5, 96, 96)
    for k in range(5):
        np.testing.assert_array_equal(out[k], frames[-1])


@pytest.mark.parametrize("name", ["pysteps-extrapolation", "pysteps-sprog"])
def test_motion_baselines_beat_persistence_on_moving_rain(name: str) -> None:
    ds = moving_rain()
    rain = ds["rainfall_rate"].values
    mine, base = SkillScores(8), SkillScores(8)
    mine.add(BASELINES[name](rain[:4], 8), rain[4:12])
    base.add(persistence(rain[:4], 8), rain[4:12])
    assert np.mean(mine.result()["MAE"]) < 0.8 * np.mean(base.result()["MAE"])


def test_dry_input_gives_dry_forecast() -> None:
    dry = np.zeros((4, 32, 32), dtype=np.float32)
    for fn in BASELINES.values():
        assert not fn(dry, 3).any()


def test_evaluate_model_and_baselines_on_the_same_windows(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    write_netcdf(moving_rain(20), tmp_path / "seq.nc")
    windows = Windows(index_frames(tmp_path / "seq.nc"), t_in=4, t_out=6, stride=4)
    name, model = onnx_method(persistence_model(tmp_path / "p.onnx", t_in=4, t_out=6))
    results = evaluate(
        windows, {name: model, "persistence": baseline_method("persistence")}, 4, 6, progress=False
    )
    # the ONNX persistence model and the persistence baseline must score (nearly) the same
    a, b = headline(results[name]), headline(results["persistence"])
    assert a["CSI 1"] == pytest.approx(b["CSI 1"], abs=0.02)
    assert results[name]["forecasts"] == len(windows) == 3
    files = save_results(results, tmp_path / "out")
    assert files["plot"].stat().st_size > 10_000
    payload = json.loads(files["json"].read_text())
    assert set(payload["methods"]) == {name, "persistence"}


def test_evaluate_command(tmp_path: Path, capsys) -> None:
    write_netcdf(moving_rain(16), tmp_path / "seq.nc")
    code = main(
        [
            "evaluate",
            str(tmp_path / "seq.nc"),
            "--steps",
            "4",
            "--stride",
            "4",
            "--baselines",
            "persistence,pysteps-extrapolation",
            "-o",
            str(tmp_path / "ev"),
            "--maps",
        ]
    )
    assert code == 0
    assert (tmp_path / "ev" / "maps.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "pysteps-extrapolation" in out and "CSI at 1 mm/h per lead time" in out
    assert (tmp_path / "ev" / "skill.png").exists()
    assert main(["evaluate", str(tmp_path / "seq.nc"), "--baselines", "magic"]) == 1


def test_evaluate_scores_a_training_checkpoint(tmp_path: Path, capsys) -> None:
    torch = pytest.importorskip("torch")
    from models.checkpoint import save_checkpoint
    from models.registry import build

    torch.manual_seed(0)
    model = build("ms-convlstm", hidden=4, patch=2, t_in=4, t_out=2)
    model.config.name = "tiny-ckpt"
    save_checkpoint(tmp_path / "tiny.pt", model)
    write_netcdf(moving_rain(12), tmp_path / "seq.nc")
    code = main(
        [
            "evaluate",
            str(tmp_path / "seq.nc"),
            "--model",
            str(tmp_path / "tiny.pt"),
            "--steps",
            "3",
            "--stride",
            "4",
            "--baselines",
            "persistence",
            "-o",
            str(tmp_path / "ev"),
        ]
    )
    assert code == 0
    scores = json.loads((tmp_path / "ev" / "scores.json").read_text())
    methods = scores["methods"] if "methods" in scores else scores
    assert "tiny-ckpt" in methods and "persistence" in methods
    assert (tmp_path / "ev" / "tiny.onnx").exists()  # exported with 3 steps for the scoring


def test_evaluate_command_keeps_two_models_of_one_name_apart(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    write_netcdf(moving_rain(12), tmp_path / "seq.nc")
    for run in ("a", "b"):  # two runs of one recipe: same model name, same file name
        (tmp_path / run).mkdir()
        persistence_model(tmp_path / run / "m.onnx", t_in=4, t_out=4)
    args = ["evaluate", str(tmp_path / "seq.nc"), "--steps", "4", "--stride", "4"]
    args += ["--baselines", "", "-o", str(tmp_path / "ev")]
    assert (
        main([*args, "--model", str(tmp_path / "a/m.onnx"), "--model", str(tmp_path / "b/m.onnx")])
        == 0
    )
    methods = json.loads((tmp_path / "ev" / "scores.json").read_text())["methods"]
    assert len(methods) == 2 and any(name.endswith("(b/m.onnx)") for name in methods)
    twice = ["--model", str(tmp_path / "a/m.onnx")] * 2
    assert main([*args, *twice]) == 1  # the same file again is a mistake, not a new row


def test_evaluate_feeds_an_archive_of_another_cadence_as_the_models_own(
    tmp_path: Path, capsys
) -> None:
    pytest.importorskip("onnx")
    ds = moving_rain(12)
    write_netcdf(ds, tmp_path / "five.nc")
    six = ds.assign_coords(time=ds["time"].values[0] + np.arange(12) * np.timedelta64(6, "m"))
    write_netcdf(six, tmp_path / "six.nc")
    model = persistence_model(tmp_path / "p.onnx", t_in=4, t_out=4)
    args = ["--model", str(model), "--steps", "4", "--stride", "4", "--baselines", "persistence"]

    # a 5-min model refuses 6-min frames, and says why
    assert main(["evaluate", str(tmp_path / "six.nc"), "--cadence", "6", *args]) == 1
    assert "--as-cadence 5" in capsys.readouterr().err
    # fed as if 5 min apart, the same frames score exactly as the 5-min archive
    for name, extra in (("five", []), ("six", ["--cadence", "6", "--as-cadence", "5"])):
        out = tmp_path / f"ev-{name}"
        assert main(["evaluate", str(tmp_path / f"{name}.nc"), *extra, *args, "-o", str(out)]) == 0
    five, six = (
        json.loads((tmp_path / f"ev-{n}" / "scores.json").read_text())["methods"]
        for n in ("five", "six")
    )
    assert six["test-persistence"]["forecasts"] == five["test-persistence"]["forecasts"] == 2
    assert six["test-persistence"]["lead_minutes"] == [5.0, 10.0, 15.0, 20.0]
    for method in five:
        assert six[method]["CSI"] == five[method]["CSI"]
        assert six[method]["MAE"] == five[method]["MAE"]
    assert main(["evaluate", str(tmp_path / "six.nc"), "--as-cadence", "0", *args]) == 2
