"""Probability matching after the network (``cdf-match``): the forecast keeps its ranks and
takes the value distribution of the last observed frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.errors import ModelError
from tests.onnx_fixtures import persistence_model
from workers.engine import Engine, match_distribution


def test_match_distribution_keeps_ranks_and_takes_the_observed_values() -> None:
    rng = np.random.default_rng(0)
    observed = np.where(rng.random((20, 30)) < 0.3, rng.random((20, 30)), 0.0)
    # a smooth, faded forecast: every pixel slightly wet, values squeezed
    forecast = 0.2 * rng.random((3, 20, 30)) + 0.01
    matched = match_distribution(forecast, observed)
    for k in range(3):
        np.testing.assert_allclose(np.sort(matched[k].ravel()), np.sort(observed.ravel()))
        order = np.argsort(forecast[k].ravel())
        assert np.all(np.diff(matched[k].ravel()[order]) >= 0)  # ranks kept


def test_dry_observation_leaves_the_forecast() -> None:
    forecast = np.full((2, 4, 4), 0.3)
    np.testing.assert_array_equal(match_distribution(forecast, np.zeros((4, 4))), forecast)


def test_engine_postprocessing_choice(tmp_path: Path) -> None:
    path = persistence_model(tmp_path / "p.onnx")
    assert Engine(path).postprocess == "none"  # no metadata entry: as before
    assert Engine(path, postprocess="cdf-match").postprocess == "cdf-match"
    with pytest.raises(ModelError, match="unknown postprocessing"):
        Engine(path, postprocess="sharpen")


def test_agrees_with_pysteps_empirical_cdf_matching() -> None:
    from radar._pysteps import pysteps_module

    probmatching = pysteps_module("pysteps.postprocessing.probmatching")
    rng = np.random.default_rng(1)
    observed = np.where(rng.random((30, 40)) < 0.25, 5 * rng.random((30, 40)), 0.0)
    for wet in (0.1, 0.6):  # fewer and more wet pixels than observed
        frame = np.where(rng.random((30, 40)) < wet, rng.random((30, 40)), 0.0)
        ours = match_distribution(frame[None], observed)[0]
        theirs = probmatching.nonparam_match_empirical_cdf(frame, observed)
        np.testing.assert_allclose(ours, theirs, atol=1e-9)
