"""The training recipe of REFERENCE.md §4: losses and scheduled sampling."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.metrics import balance_weights as metric_weights  # noqa: E402
from models.training import (  # noqa: E402
    CSI_THRESHOLDS,
    CSI_WEIGHT,
    TrainConfig,
    balance_weights,
    matched_levels,
    sequence_loss,
    soft_csi,
    truth_mask,
)
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


def _rain(rates) -> torch.Tensor:
    return torch.as_tensor(rain_to_pixel(np.asarray(rates, dtype=np.float32)))


def test_soft_csi_scores_each_step_like_the_csi_it_stands_for():
    truth = torch.zeros(2, 3, 1, 16, 16)
    truth[:, :, :, 4:12, 4:12] = _rain([40.0])  # a heavy core: above every threshold
    perfect = soft_csi(truth, truth)
    assert perfect.shape == (3,)
    assert torch.all(perfect > 0.98)
    dry = soft_csi(torch.zeros_like(truth), truth)
    assert torch.all(dry < 0.02)  # every observed pixel missed
    # half the core forecast: CSI 1/2 at every threshold
    half = torch.zeros_like(truth)
    half[:, :, :, 4:12, 4:8] = _rain([40.0])
    np.testing.assert_allclose(soft_csi(half, truth).numpy(), 0.5, atol=0.02)
    # a light forecast (between 0.5 and 1 mm/h) of the core hits the lowest threshold only
    light = torch.where(truth > 0, _rain([0.7]), torch.zeros(()))
    assert float(soft_csi(light, truth)[0]) == pytest.approx(1 / len(CSI_THRESHOLDS), abs=0.05)
    # masked-out pixels count neither as hits nor as misses
    mask = torch.zeros_like(truth)
    mask[:, :, :, :, 8:] = 1.0
    assert torch.all(soft_csi(half, truth, mask) < 0.02)
    assert torch.all(soft_csi(half, truth, 1 - mask) > 0.98)


def test_balanced_csi_loss_adds_the_csi_term_with_gradients_at_the_rain_edges():
    truth = torch.zeros(1, 2, 1, 8, 8)
    truth[:, :, :, 2:6, 2:6] = _rain([40.0])
    pred = torch.zeros_like(truth)
    balanced = sequence_loss(pred, truth, "balanced")
    both = sequence_loss(pred, truth, "balanced+csi")
    expected = CSI_WEIGHT * 64 * (1 - soft_csi(pred, truth)).mean()
    assert float(both - balanced) == pytest.approx(float(expected), rel=1e-5)
    assert float(both - balanced) > 0.5 * CSI_WEIGHT * 64
    near = torch.where(truth > 0, _rain([0.9]), torch.zeros(())).requires_grad_(True)
    sequence_loss(near, truth, "balanced+csi").backward()
    gain = -near.grad[truth > 0]  # raising an under-forecast core lowers the loss
    assert torch.all(gain > 0)
    assert float(sequence_loss(truth, truth, "balanced+csi")) < float(both) / 5


def test_matched_csi_scores_the_forecast_as_distribution_matching_will_leave_it():
    from workers.engine import match_distribution

    gen = torch.Generator().manual_seed(3)
    reference = torch.rand(2, 1, 12, 12, generator=gen) * 0.8
    truth = torch.rand(2, 3, 1, 12, 12, generator=gen) * 0.8
    pred = torch.rand(2, 3, 1, 12, 12, generator=gen) * 0.3  # far too dry before matching
    levels = matched_levels(pred, reference)
    thresholds = rain_to_pixel(np.asarray(CSI_THRESHOLDS, dtype=np.float32))
    for b in range(2):
        matched = match_distribution(pred[b, :, 0].numpy(), reference[b, 0].numpy())
        for k, threshold in enumerate(thresholds):
            for t in range(3):
                above = pred[b, t, 0].numpy() >= levels[k, b, t].item()
                np.testing.assert_array_equal(above, matched[t] >= threshold)
    # scored as matched, the dry forecast is as good as its ranks; unmatched it misses all
    assert float(soft_csi(pred, truth, reference=reference).mean()) > 2 * float(
        soft_csi(pred, truth).mean()
    )
    # a reference with no rain above a threshold leaves nothing above it
    assert torch.isinf(matched_levels(pred, torch.zeros_like(reference))).all()


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
