"""The model shipped in models/shipped: complete metadata, a card, the service's default, and a
sane nowcast on a full DE1200 grid within this machine's memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from workers.catalog import DEFAULT_FILE, list_models
from workers.engine import Engine
from workers.seam import SHIPPED_MODELS, Settings


@pytest.fixture(scope="module")
def shipped():
    models = list_models(SHIPPED_MODELS)
    assert models, f"no model in {SHIPPED_MODELS}"
    return models


def test_shipped_model_metadata_and_card(shipped):
    for entry in shipped.values():
        assert entry.t_in <= 4 and entry.t_out >= 12
        assert entry.meta["transform"] == "dbz_pixel_256_1.42"
        scores = json.loads(entry.meta["validation_scores"])
        assert any(k.startswith("val_csi_1mmh") and np.isfinite(v) for k, v in scores.items())
        trained = json.loads(entry.meta.get("training", "{}")).get("steps", 1) > 0
        if trained:  # a network with trained weights names its loss and training archives
            assert np.isfinite(scores["val_loss"])
            assert json.loads(entry.meta["training_data"])["train"]
        else:  # one without says so, and where its few choices were made
            assert json.loads(entry.meta["training_data"])["val"]
        card = (Path(entry.path).parent / "README.md").read_text()
        assert entry.name in card and "Quelle: Deutscher Wetterdienst" in card


def test_the_embedded_service_serves_the_folders_default(shipped):
    default = (SHIPPED_MODELS / DEFAULT_FILE).read_text().strip()
    assert default in shipped
    with TestClient(create_app(Settings(redis_url=None))) as client:
        listing = client.get("/models").json()
        assert listing["default"] == default
        assert {m["name"] for m in listing["data"]} == set(shipped)  # old models stay by name
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("which", ["default", "other"])
def test_nowcast_on_a_full_de1200_grid(shipped, dwd_dir, which):
    from radar.sequence import read_sequence

    rv = read_sequence(dwd_dir / "dwd_utils" / "DE1200_RV2506151820.tar.bz2")
    default = (SHIPPED_MODELS / DEFAULT_FILE).read_text().strip()
    others = [name for name in shipped if name != default]
    if which == "other" and not others:
        pytest.skip("only one shipped model")
    entry = shipped[default if which == "default" else others[0]]
    inputs = rv.isel(time=slice(0, entry.t_in))
    forecast = Engine(entry.path, device="cpu").predict(inputs, steps=entry.t_out)
    rain = forecast["rainfall_rate"].values
    assert rain.shape == (entry.t_out, 1200, 1100)
    last = np.nan_to_num(inputs["rainfall_rate"].values[-1])
    first = np.nan_to_num(rain[0])
    assert np.nanmax(rain) < 400 and np.nanmin(rain) >= 0
    # the first lead looks like the rain it starts from: same wet area, strongly correlated
    wet_in, wet_out = (last > 0.5).mean(), (first > 0.5).mean()
    assert 0.5 < wet_out / wet_in < 2.0
    assert np.corrcoef(last.ravel(), first.ravel())[0, 1] > 0.6
