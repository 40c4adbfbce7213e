"""The training recipe of REFERENCE.md §4: losses and scheduled sampling."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.metrics import balance_weights as metric_weights  # noqa: E402
from models.training import TrainConfig, balance_weights, sequence_loss, truth_mask  # noqa: E402
from radar.transforms import rain_to_pixel  # noqa: E402


def test_loss_is_mse_plus_mae_summed_over_pixels_averaged_over_time_and_batch():
    pred = torch.zeros(2, 3, 1, 4, 5)
    truth = torch.full_like(pred, 0.5)
    assert float(sequence_loss(pred, truth)) == pytest.approx(20 * (0.25 + 0.5))


def test_balanced_weights_are_the_b_mse_weights_in_pixel_space():
    rates = np.array([0.0, 1.0, 1.99, 2.01, 4.0, 6.0, 12.0, 40.0])
    pixels = torch.as_tensor(rain_to_pixel(rates), dtype=torch.float32)
    np.testing.assert_array_equal(balance_weights(pixels).numpy(), metric_weights(rates))
    heavy = torch.as_tensor(rain_to_pixel(np.array([40.0])), dtype=torch.float32).view(1, 1, 1, 1)
    zero = torch.zeros_like(heavy)
    assert float(sequence_loss(zero, heavy, "balanced")) == pytest.approx(
        30 * float(sequence_loss(zero, heavy))
    )
    with pytest.raises(ValueError, match="unknown loss"):
        sequence_loss(zero, heavy, "huber")


def test_linear_scheduled_sampling_decays_to_predictions_and_keeps_inputs_true():
    cfg = TrainConfig(data=[], out="", t_in=3, t_out=4, model="ms-convlstm")
    gen = torch.Generator().manual_seed(0)
    start = truth_mask(cfg, 256, step=0, total_steps=100, epoch=0, gen=gen)
    middle = truth_mask(cfg, 256, step=50, total_steps=100, epoch=0, gen=gen)
    end = truth_mask(cfg, 256, step=100, total_steps=100, epoch=0, gen=gen)
    assert start.shape == (256, 6)
    assert (start[:, :3] == 1).all() and (end[:, :3] == 1).all()  # observed inputs
    assert start[:, 3:].mean() == 1 and end[:, 3:].mean() == 0
    assert 0.4 < float(middle[:, 3:].mean()) < 0.6


def test_reverse_scheduled_sampling_for_predrnn_v2():
    cfg = TrainConfig(data=[], out="", t_in=3, t_out=4, model="predrnn-v2", epochs=9)
    gen = torch.Generator().manual_seed(0)
    early = truth_mask(cfg, 4096, step=0, total_steps=90, epoch=0, gen=gen)
    late = truth_mask(cfg, 4096, step=90, total_steps=90, epoch=8, gen=gen)
    assert abs(float(early[:, 1:3].mean()) - 0.5) < 0.05  # encoder: 0.5 rising to 1
    assert abs(float(early[:, 3:].mean()) - 0.5) < 0.05  # forecast: 0.5 falling to 0
    assert late[:, :3].mean() == 1 and late[:, 3:].mean() == 0
    assert (early[:, 0] == 1).all()
