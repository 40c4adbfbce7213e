"""radar.motion: Lucas-Kanade motion of moving rain in pixels per step (x then y), coarsened
estimation, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from radar.exceptions import RadarError

pytest.importorskip("pysteps")

from radar.motion import MOTION_METHODS, coarsen_motion, estimate_motion  # noqa: E402

CELLS = ((30.0, 50.0, 6.0), (60.0, 40.0, 4.0), (45.0, 70.0, 5.0))  # x, y, sigma in pixels


def rain(t: float, u: float, v: float, h: int = 96, w: int = 96, peak: float = 20.0):
    """mm/h: Gaussian cells of ``peak`` mm/h moved by t steps of (u, v) pixels."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w), np.float32)
    for cx, cy, s in CELLS:
        out += peak * np.exp(-((xx - cx - u * t) ** 2 + (yy - cy - v * t) ** 2) / (2 * s * s))
    return out


def sequence(u: float, v: float, frames: int = 3, **kw) -> np.ndarray:
    return np.stack([rain(t, u, v, **kw) for t in range(frames)])


@pytest.mark.parametrize("coarsen, tolerance", [(1, 0.02), (2, 0.1)])
@pytest.mark.parametrize("u, v", [(2.0, -1.0), (-1.0, 1.5)])
def test_lk_finds_the_displacement_of_moving_rain(u, v, coarsen, tolerance):
    seq = sequence(u, v)
    motion = estimate_motion(seq, "lk", frames=3, coarsen=coarsen)
    assert motion.shape == (2, 96, 96) and motion.dtype == np.float32
    near = seq[-1] > 1.0  # near the rain, where motion can be seen
    assert near.sum() > 200
    np.testing.assert_allclose(motion[0][near], u, atol=tolerance)  # x (columns) first
    np.testing.assert_allclose(motion[1][near], v, atol=tolerance)  # then y (rows, downward)


@pytest.mark.parametrize("step", [2, 4, 5])
def test_interpolation_on_every_nth_pixel_keeps_pysteps_dense_field(step):
    # two groups of cells moving differently, on a grid that is no multiple of the step
    left = sequence(2.0, -1.0, h=101, w=138)
    right = np.roll(sequence(-1.0, 1.5, h=101, w=138), 62, axis=2)
    seq = left + right
    dense = estimate_motion(seq, "lk")
    nodes = estimate_motion(seq, "lk", interp_step=step)
    assert nodes.shape == dense.shape == (2, 101, 138) and nodes.dtype == np.float32
    assert np.isfinite(nodes).all()
    assert np.abs(nodes - dense).mean() < 0.02  # pixels per step
    assert np.abs(nodes - dense).max() < 0.3
    assert dense[0, :, :30].mean() > dense[0, :, -30:].mean() + 0.5  # a two-way field


def test_coarsened_estimate_on_an_odd_grid_with_no_data_border():
    seq = sequence(2.0, -1.0, h=95, w=97)
    seq[:, :3] = np.nan  # outside the radar coverage
    for coarsen in (2, 3):
        motion = estimate_motion(seq, coarsen=coarsen)
        assert motion.shape == (2, 95, 97) and np.isfinite(motion).all()
        near = np.nan_to_num(seq[-1]) > 1.0
        assert np.abs(motion[0][near] - 2.0).max() < 0.1 * coarsen
        assert np.abs(motion[1][near] + 1.0).max() < 0.1 * coarsen


def test_only_the_last_frames_count():
    tail = sequence(2.0, -1.0, frames=3)
    other = sequence(-3.0, 2.0, frames=2)  # earlier frames moving elsewhere
    both = np.concatenate([other, tail])
    np.testing.assert_array_equal(estimate_motion(both, frames=3), estimate_motion(tail, frames=3))
    assert not np.allclose(estimate_motion(both, frames=5), estimate_motion(tail, frames=3))


@pytest.mark.parametrize("coarsen", [1, 2])
def test_dry_frames_give_zero_motion(coarsen):
    dry = np.zeros((3, 40, 48), np.float32)
    drizzle = np.full((3, 40, 48), 0.05, np.float32)  # below the rain threshold
    for frames in (dry, drizzle):
        motion = estimate_motion(frames, coarsen=coarsen)
        assert motion.shape == (2, 40, 48) and not motion.any()
    one_dry = sequence(2.0, -1.0)
    one_dry[1] = 0.0  # a frame without rain: there is no motion to see
    assert not estimate_motion(one_dry, coarsen=coarsen).any()


def test_motion_coarsens_to_block_means_in_the_coarser_pixels():
    field = np.stack([np.full((5, 7), 2.0), np.full((5, 7), -1.0)]).astype(np.float32)
    field[0, :2, :2] = [[1.0, 3.0], [5.0, 7.0]]
    out = coarsen_motion(field, 2)
    assert out.shape == (2, 3, 4) and out.dtype == np.float32
    assert out[0, 0, 0] == 2.0  # (1 + 3 + 5 + 7) / 4 pixels, halved
    np.testing.assert_array_equal(out[1], -0.5)  # the edge blocks: means of what they hold
    np.testing.assert_array_equal(out[0].ravel()[1:], 1.0)
    assert coarsen_motion(field, 1) is not field and np.array_equal(coarsen_motion(field, 1), field)


def test_refusals():
    seq = sequence(1.0, 1.0)
    assert "lk" in MOTION_METHODS
    with pytest.raises(RadarError, match="unknown motion method 'farneback'"):
        estimate_motion(seq, "farneback")
    with pytest.raises(RadarError, match="at least 2 frames"):
        estimate_motion(seq[:1])
    with pytest.raises(RadarError, match="at least 2 frames"):
        estimate_motion(seq, frames=1)
    with pytest.raises(RadarError, match="at least 2 frames"):
        estimate_motion(seq[0])  # one 2-D frame
