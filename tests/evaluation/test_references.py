"""The reference nowcasts that need no training (lk-gauss, model + LK blends) and scores.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pysteps")

from scipy.ndimage import gaussian_filter  # noqa: E402

from models.baselines import lk_gauss, pysteps_extrapolation  # noqa: E402
from models.evaluation import (  # noqa: E402
    BLEND_SUFFIX,
    LK,
    add_blends,
    baseline_method,
    blend,
    evaluate,
    headline,
    save_results,
)
from nowcast.cli import main  # noqa: E402
from radar.netcdf import write_netcdf  # noqa: E402
from radar.synthetic import synthetic_sequence  # noqa: E402
from radar.windows import Windows, index_frames  # noqa: E402
from tests.onnx_fixtures import persistence_model  # noqa: E402


def moving_blob(frames: int = 4) -> np.ndarray:
    """One elliptical cell of 20 mm/h moving 2 px east and 1 px south per frame."""
    yy, xx = np.mgrid[0:96, 0:96]
    rain = np.stack(
        [
            20 * np.exp(-0.5 * (((xx - 30 - 2 * t) / 5) ** 2 + ((yy - 40 - t) / 4) ** 2))
            for t in range(frames)
        ]
    ).astype(np.float32)
    rain[rain < 0.1] = 0.0
    return rain


def windows_of(tmp_path: Path, frames: int = 16, t_out: int = 6, **kw) -> Windows:
    write_netcdf(
        synthetic_sequence(frames=frames, height=64, width=64, seed=5, **kw), tmp_path / "seq.nc"
    )
    return Windows(index_frames(tmp_path / "seq.nc"), t_in=4, t_out=t_out, stride=4)


def test_lk_gauss_blurs_more_at_longer_leads() -> None:
    frames = moving_blob()
    plain = pysteps_extrapolation(frames, 8).reshape(8, -1)
    blurred = lk_gauss(frames, 8).reshape(8, -1)
    # extrapolation carries the peak along; the blurred one loses more of it with every lead
    assert plain.max(axis=1) == pytest.approx(np.full(8, frames.max()), rel=0.02)
    assert (np.diff(blurred.max(axis=1)) < 0).all()
    assert blurred[-1].max() < 0.5 * plain[-1].max()
    # blurring moves rain, it does not make or lose it (the cell is far from the edges)
    assert blurred.sum(axis=1) == pytest.approx(plain.sum(axis=1), rel=1e-3)


def test_lk_gauss_is_extrapolation_blurred_by_the_documented_rule(tmp_path: Path) -> None:
    # 2 km pixels, 10-minute frames: sigma = 0.2 km/min * lead / 2 km = 1, 2, 3 px
    ds = synthetic_sequence(frames=4, height=64, width=64, pixel_m=2000.0, cadence_minutes=10)
    plain = baseline_method("pysteps-extrapolation")(ds, 3)
    blurred = baseline_method("lk-gauss")(ds, 3)
    for k in range(3):
        sigma_px = 0.2 * 10 * (k + 1) / 2
        expected = gaussian_filter(plain[k], sigma_px, mode="reflect")
        np.testing.assert_allclose(blurred[k], expected, rtol=1e-5, atol=1e-5)


def test_blend_is_the_pixelwise_mean_of_its_parts() -> None:
    ds = synthetic_sequence(frames=4, height=64, width=64, seed=2)
    a, b = baseline_method("persistence"), baseline_method(LK)
    np.testing.assert_allclose(blend(a, b)(ds, 4), 0.5 * (a(ds, 4) + b(ds, 4)), rtol=1e-6)
    methods = add_blends({"model": a}, ["model"])
    np.testing.assert_allclose(
        methods["model" + BLEND_SUFFIX](ds, 4), 0.5 * (a(ds, 4) + b(ds, 4)), rtol=1e-6
    )


def test_blend_runs_the_model_and_lk_once_per_window(tmp_path: Path) -> None:
    windows = windows_of(tmp_path)
    calls = {"model": 0, LK: 0}

    def counted(name: str, method):
        def run(inputs, steps):
            calls[name] += 1
            return method(inputs, steps)

        return run

    methods = add_blends(
        {
            "model": counted("model", baseline_method("persistence")),
            LK: counted(LK, baseline_method(LK)),
        },
        ["model"],
    )
    results = evaluate(windows, methods, 4, 6, progress=False)
    assert calls == {"model": len(windows), LK: len(windows)}
    assert set(results) == {"model", LK, "model" + BLEND_SUFFIX}


def test_scores_md_has_a_row_per_method_in_every_table(tmp_path: Path) -> None:
    windows = windows_of(tmp_path)
    names = ["persistence", "lk-gauss"]
    results = evaluate(windows, {n: baseline_method(n) for n in names}, 4, 6, progress=False)
    files = save_results(results, tmp_path / "out", {"title": "3 windows"})
    text = files["markdown"].read_text()
    assert files["markdown"].name == "scores.md"
    # 6 leads of 5 min: the per-lead tables are those of the standard leads up to 30 min
    captions = [line for line in text.splitlines() if line.startswith("At +")]
    assert captions == ["At +5 min:", "At +15 min:", "At +30 min:"]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == (1 + len(captions)) * (1 + len(names))  # header + methods per table
    assert rows[0].startswith("| method | CSI 1 mm/h | CSI 5 mm/h | FSS 1 mm/h, 11 px |")
    assert rows[0].endswith("| BIAS 1 mm/h at 30 min |")  # no 60-min lead in this run
    for name in names:
        mean = headline(results[name])
        bias = results[name]["BIAS"]["1.0"][5]
        assert f"| {name} | {mean['CSI 1']:.3f} | {mean['CSI 5']:.3f} |" in text
        assert text.count(f"| {name} |") == 1 + len(captions)
        assert f"| {bias:.3f} |" in text or np.isnan(bias)
    # the text table gains the same per-lead blocks; the JSON carries BIAS per threshold
    assert "at +30 min" in files["table"].read_text()
    payload = json.loads(files["json"].read_text())
    assert len(payload["methods"]["lk-gauss"]["BIAS"]["1.0"]) == 6


def test_evaluate_command_blend(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    write_netcdf(synthetic_sequence(frames=12, height=64, width=64, seed=5), tmp_path / "seq.nc")
    model = persistence_model(tmp_path / "p.onnx", t_in=4, t_out=4, name="tiny")
    args = ["evaluate", str(tmp_path / "seq.nc"), "--steps", "4", "--stride", "4"]
    out = tmp_path / "ev"
    assert (
        main(
            [*args, "--model", str(model), "--blend", "--baselines", "persistence", "-o", str(out)]
        )
        == 0
    )
    methods = json.loads((out / "scores.json").read_text())["methods"]
    assert list(methods) == ["tiny", "persistence", "tiny + LK (50/50)"]
    assert "| tiny + LK (50/50) |" in (out / "scores.md").read_text()
    assert main([*args, "--blend", "-o", str(out)]) == 1  # a blend needs a model
