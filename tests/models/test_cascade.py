"""models.cascade: the scale split, the AR(2) coefficients and the scale-by-scale forecast."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from models import cascade  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def smooth_field(h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """[1, 1, h, w]: large-scale structure only (a coarse random field resized up), all wet
    (pixels 0.4-0.9, 0.6-60 mm/h)."""
    coarse = 0.4 + 0.5 * torch.rand(1, 1, 3, 4, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)


@pytest.mark.parametrize("h, w", [(64, 64), (37, 53), (16, 96)])
def test_levels_have_the_grid_and_sum_to_the_field(h, w):
    field = torch.rand(2, 1, h, w, generator=torch.Generator().manual_seed(0))
    levels = cascade.decompose(field)
    assert len(levels) == len(cascade.SIGMAS) + 1
    assert all(level.shape == field.shape for level in levels)
    torch.testing.assert_close(sum(levels), field, rtol=0, atol=1e-5)


def test_fine_levels_hold_small_scales_and_coarse_levels_large_ones():
    gen = torch.Generator().manual_seed(1)
    smooth = smooth_field(64, 64, gen)
    noise = 0.1 * torch.randn(1, 1, 64, 64, generator=gen)
    levels = cascade.decompose(smooth + noise)
    finest, coarse = levels[0], sum(levels[2:])  # scales of a pixel, and of several
    # the pixel noise is mostly in the finest level, the smooth field in the coarse ones
    assert torch.corrcoef(torch.stack([finest.flatten(), noise.flatten()]))[0, 1] > 0.6
    assert torch.corrcoef(torch.stack([coarse.flatten(), smooth.flatten()]))[0, 1] > 0.9


def test_yule_walker_recovers_the_coefficients_of_an_ar2_process():
    phi1, phi2 = 0.6, 0.2  # stationary; its correlations follow from the Yule-Walker equations
    gamma1 = phi1 / (1 - phi2)
    gamma2 = phi1 * gamma1 + phi2
    got1, got2 = cascade.ar2_coefficients(torch.tensor(gamma1), torch.tensor(gamma2))
    assert float(got1) == pytest.approx(phi1, abs=1e-5)
    assert float(got2) == pytest.approx(phi2, abs=1e-5)


def test_a_non_stationary_lag2_correlation_is_moved_into_the_stationary_region():
    # gamma2 far below 2 gamma1^2 - 1 would give an explosive AR(2)
    phi1, phi2 = cascade.ar2_coefficients(torch.tensor(0.9), torch.tensor(-0.5))
    # stationarity of x_k = phi1 x_{k-1} + phi2 x_{k-2}: |phi2| < 1, phi2 +- phi1 < 1
    assert abs(float(phi2)) < 1 and float(phi1 + phi2) < 1 and float(phi2 - phi1) < 1


def test_a_field_that_does_not_change_persists():
    field = smooth_field(48, 64, torch.Generator().manual_seed(2))
    out = cascade.forecast([field, field, field], steps=6)
    assert len(out) == 6
    for frame in out:
        torch.testing.assert_close(frame, field, rtol=0, atol=0.01)


def test_a_faint_pattern_that_does_not_change_persists_at_its_amplitude():
    """Levels of small variance (a faint large-scale pattern, +-0.005 in pixels) still get a
    correlation of 1, so an unchanging pattern persists. Version 1 (the first shipped cascade)
    biased such correlations down and faded the pattern (models.cascade.VARIANCE_EPS)."""
    pattern = smooth_field(48, 64, torch.Generator().manual_seed(6)) - 0.65  # +-0.25
    field = 0.6 + 0.02 * pattern

    def amplitude(frame: torch.Tensor) -> float:  # of the pattern, relative to the input's
        return float(((frame - 0.6) * pattern).sum() / (0.02 * pattern * pattern).sum())

    kept = cascade.forecast([field] * 3, steps=12, version=2)
    faded = cascade.forecast([field] * 3, steps=12, version=1)
    assert all(amplitude(frame) > 0.99 for frame in kept)
    assert amplitude(faded[0]) < 0.8 and amplitude(faded[-1]) < 0.3
    with pytest.raises(ValueError, match="unknown cascade version"):
        cascade.forecast([field] * 3, steps=2, version=3)


def test_configs_written_before_cascade_versions_are_version_1():
    from models.network import ModelConfig
    from models.registry import build

    old = {"name": "m", "arch": "convlstm", "multiscale": True, "advection": "cascade"}
    assert ModelConfig.from_dict(old).cascade_version == 1
    assert ModelConfig.from_dict({**old, "cascade_version": 2}).cascade_version == 2
    assert build("ms-convlstm", hidden=4, advection="cascade").config.cascade_version == 2


def test_scales_that_decorrelate_fade_and_scales_that_persist_stay():
    gen = torch.Generator().manual_seed(3)
    smooth = smooth_field(64, 64, gen)
    # the same large-scale field under pixel noise that is new in every frame
    frames = [smooth + 0.2 * torch.randn(1, 1, 64, 64, generator=gen) for _ in range(3)]
    out = cascade.forecast(frames, steps=4)
    last_error = float((frames[-1] - smooth).abs().mean())
    for frame in out:
        assert float((frame - smooth).abs().mean()) < 0.35 * last_error
    # the large scales are kept, not damped towards the mean
    assert float(out[-1].std()) > 0.8 * float(smooth.std())


def test_fade_scales_each_level_by_its_rate_per_lead():
    gen = torch.Generator().manual_seed(5)
    smooth = smooth_field(64, 64, gen)
    smooth = 0.5 + 0.3 * (smooth - smooth.min()) / (smooth.max() - smooth.min())
    field = smooth + 0.03 * torch.randn(1, 1, 64, 64, generator=gen)
    assert float(field.min()) > cascade.WET_PIXEL + 0.05  # all wet: nothing is cut to dry
    finest = cascade.decompose(field)[0]
    anomaly = finest - finest.mean()
    rate = torch.tensor([-0.5, 0.0, 0.0, 0.0])  # the finest level: x e^-0.5 per lead
    plain = cascade.forecast([field] * 3, steps=3)
    faded = cascade.forecast([field] * 3, steps=3, fade=rate)
    for k in range(3):
        expected = plain[k] + (torch.exp(torch.tensor(-0.5 * (k + 1))) - 1) * anomaly
        torch.testing.assert_close(faded[k], expected, rtol=0, atol=2e-3)
    zero = cascade.forecast([field] * 3, steps=3, fade=torch.zeros(4))
    for a, b in zip(plain, zero, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_pixels_outside_the_valid_area_do_not_change_the_coefficients():
    gen = torch.Generator().manual_seed(4)
    field = smooth_field(32, 32, gen)
    frames = [field, field, field]
    valid = torch.ones_like(field)
    valid[..., :, :8] = 0
    spoiled = [f.clone() for f in frames]
    spoiled[0][..., :, :8] = torch.rand(1, 1, 32, 8, generator=gen)  # unknown inflow region
    out = cascade.forecast(spoiled, steps=3, valid=valid)
    torch.testing.assert_close(out[-1][..., :, 12:], field[..., :, 12:], rtol=0, atol=0.03)


def test_dry_stays_dry_and_rain_edges_do_not_ring():
    field = torch.zeros(1, 1, 64, 64)
    field[..., 20:40, 20:40] = 0.5  # a wet square (about 3 mm/h) in a dry field
    out = cascade.forecast([field, field, field], steps=3)
    for frame in out:
        assert not frame[..., :10, :].any() and not frame[..., :, 50:].any()  # far: dry
        torch.testing.assert_close(
            frame[..., 25:35, 25:35], field[..., 25:35, 25:35], rtol=0, atol=1e-3
        )
        assert float(frame.min()) == 0.0 and float(frame.max()) < 0.55
    nothing = cascade.forecast([torch.zeros(1, 1, 16, 16)] * 3, steps=2)
    assert not any(frame.any() for frame in nothing)


def test_fewer_than_three_frames_are_refused():
    field = torch.zeros(1, 1, 16, 16)
    with pytest.raises(ValueError, match="last three frames"):
        cascade.forecast([field, field], steps=2)
