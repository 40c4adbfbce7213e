"""Training data for the advection modes: motion per frame (causal), turned and flipped with its
frames, and windows that carry the motion known at their last input frame."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from models.advection import shift, trajectories  # noqa: E402
from models.data import PixelSequence, WindowDataset, attach_motion, augment_motion  # noqa: E402
from radar.transforms import rain_to_pixel  # noqa: E402

AUGMENTATIONS = list(itertools.product(range(4), (False, True)))


def turn(frames: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """Frames (..., H, W) turned and flipped as :class:`WindowDataset` does."""
    out = np.rot90(frames, turns, axes=(-2, -1))
    return out[..., ::-1] if flip else out


def moved(field: np.ndarray, motion: np.ndarray, steps: int = 2) -> np.ndarray:
    """``field`` (1, H, W) shifted ``steps`` steps along ``motion`` (2, H, W)."""
    m = torch.from_numpy(np.ascontiguousarray(motion))[None]
    f = torch.from_numpy(np.ascontiguousarray(field))[None]
    return shift(f, trajectories(m, steps)[-1])[0].numpy()


@pytest.mark.parametrize("turns, flip", AUGMENTATIONS)
def test_augmenting_motion_commutes_with_shifting(turns, flip):
    gen = torch.Generator().manual_seed(turns + 4 * flip)
    h, w = 12, 20  # not square: x and y cannot be mixed up unnoticed
    field = torch.rand(1, h, w, generator=gen).numpy()
    coarse = 4 * (torch.rand(1, 2, 3, 3, generator=gen) - 0.5)
    motion = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)[0].numpy()
    turned = augment_motion(motion, turns, flip)
    assert turned.shape == (2, *turn(field, turns, flip).shape[-2:])
    augment_then_shift = moved(turn(field, turns, flip), turned)
    shift_then_augment = turn(moved(field, motion), turns, flip)
    np.testing.assert_allclose(augment_then_shift, shift_then_augment, atol=1e-5)
    if turns or flip:  # turning the images but not the vectors would not commute
        images_only = np.stack([turn(c, turns, flip) for c in motion])
        wrong = moved(turn(field, turns, flip), images_only)
        assert np.abs(wrong - shift_then_augment).max() > 0.05


def random_sequence(frames: int = 8, h: int = 24, w: int = 28, seed: int = 0) -> PixelSequence:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-07-01T12:00", periods=frames, freq="5min")
    pixels = rng.integers(0, 256, (frames, h, w), dtype=np.uint8)
    motion = rng.normal(0, 2, (frames, 2, h, w)).astype(np.float16)
    return PixelSequence("random", times, pixels, motion)


def locate(seq: PixelSequence, window: np.ndarray, length: int, crop: int):
    """(t, y, x, turns, flip) of the one place a window was cut from (random pixels)."""
    found = []
    frames = seq.pixels.astype(np.float32) / 255.0
    for turns, flip in AUGMENTATIONS:
        plain = np.rot90(window[..., ::-1] if flip else window, -turns, axes=(-2, -1))
        for t in range(len(seq) - length + 1):
            for y in range(seq.pixels.shape[1] - crop + 1):
                for x in range(seq.pixels.shape[2] - crop + 1):
                    if np.array_equal(frames[t, y : y + crop, x : x + crop], plain[0]):
                        found.append((t, y, x, turns, flip))
    return found


@pytest.mark.parametrize("random", [False, True])
def test_windows_carry_the_motion_of_their_last_input_frame(random):
    seq = random_sequence()
    t_in, t_out, crop = 3, 2, 16
    data = WindowDataset(
        [seq], t_in + t_out, crop, random=random, items_per_epoch=12, seed=3, anchor=t_in - 1
    )
    seen = set()
    for k in range(len(data)):
        window, motion = data[k]
        assert window.shape == (5, 1, crop, crop) and motion.shape == (2, crop, crop)
        assert motion.dtype == torch.float32
        window, motion = window[:, 0].numpy(), motion.numpy()
        (where,) = locate(seq, window, t_in + t_out, crop)
        t, y, x, turns, flip = where
        seen.add((turns, flip))
        frames = seq.pixels[t : t + t_in + t_out, y : y + crop, x : x + crop] / 255.0
        np.testing.assert_allclose(window, turn(frames, turns, flip), atol=1e-6)
        anchored = seq.motion[t + t_in - 1, :, y : y + crop, x : x + crop].astype(np.float32)
        np.testing.assert_array_equal(motion, augment_motion(anchored, turns, flip))
    if random:
        assert len(seen) > 2  # several turns and flips, each with its own motion
    else:
        assert seen == {(0, False)}


def test_anchored_windows_need_motion():
    seq = random_sequence()
    seq.motion = None
    assert isinstance(WindowDataset([seq], 5, 16)[0], torch.Tensor)  # plain windows as before
    with pytest.raises(ValueError, match="need sequences with motion"):
        WindowDataset([seq], 5, 16, anchor=2)


def test_parts_keep_their_motion():
    seq = random_sequence(frames=8)
    part = seq.part(2, 6, ":val")
    assert part.name == "random:val" and len(part) == 4
    np.testing.assert_array_equal(part.motion, seq.motion[2:6])


def blob_pixels(frames: int, u: float, v: float, h: int = 48, w: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rain = np.stack(
        [
            20 * np.exp(-((xx - 18 - u * t) ** 2 + (yy - 26 - v * t) ** 2) / 50)
            for t in range(frames)
        ]
    )
    return np.round(rain_to_pixel(rain) * 255).astype(np.uint8)


def test_attach_motion_is_causal_and_finds_the_motion():
    pytest.importorskip("pysteps")
    times = pd.date_range("2024-07-01T12:00", periods=5, freq="5min")
    seq = PixelSequence("blob", times, blob_pixels(5, 2.0, -1.0))
    attach_motion([seq], "lk", frames=3, coarsen=1)
    assert seq.motion.shape == (5, 2, 48, 48) and seq.motion.dtype == np.float16
    assert not seq.motion[0].any()  # nothing to see from one frame
    near = seq.pixels[2] > 150
    for a in range(1, 5):
        np.testing.assert_allclose(seq.motion[a, 0][near], 2.0, atol=0.1)
        np.testing.assert_allclose(seq.motion[a, 1][near], -1.0, atol=0.1)
    # what happens after frame a does not change the motion known at a
    later = PixelSequence("blob", times, seq.pixels.copy())
    later.pixels[3:] = blob_pixels(5, -2.0, 1.0)[3:]
    attach_motion([later], "lk", frames=3, coarsen=1)
    np.testing.assert_array_equal(later.motion[:3], seq.motion[:3])
    assert not np.allclose(later.motion[4], seq.motion[4])
