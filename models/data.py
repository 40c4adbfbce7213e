"""models.data: radar archives -> in-memory pixel sequences -> training windows (torch).

Training on a CPU is only practical when every frame is decoded once: :func:`load_sequences`
reads each archive (any format :mod:`radar` reads), cuts it into runs of consecutive frames,
block-means them to the model's resolution and keeps them as uint8 pixels (P * 255; no data
is stored as 0, no rain). :class:`WindowDataset` then samples windows of ``t_in + t_out``
frames with random crops (preferring crops with rain) and flips/rotations.

Splits are by time, never by random window: per archive, whole runs go to train /
validation / test in time order when there are at least three runs, otherwise each run is
cut at the split fractions. No frame is in two splits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radar.grids import coarsen, pixel_size
from radar.interface import read_blob
from radar.sources import load
from radar.transforms import rain_to_pixel
from radar.windows import index_frames

SPLITS = ("train", "val", "test")


@dataclass
class PixelSequence:
    """Consecutive frames of one archive at the model's resolution, as uint8 pixels.

    ``motion`` (advection-aware training, see :func:`attach_motion`): (T, 2, H, W) float16,
    entry ``a`` estimated from the frames up to ``a`` as a worker would at that time.
    """

    name: str
    times: pd.DatetimeIndex
    pixels: np.ndarray  # (T, H, W) uint8
    motion: np.ndarray | None = None

    def __len__(self) -> int:
        return self.pixels.shape[0]

    def part(self, start: int, stop: int, suffix: str) -> PixelSequence:
        return PixelSequence(
            f"{self.name}{suffix}",
            self.times[start:stop],
            self.pixels[start:stop],
            None if self.motion is None else self.motion[start:stop],
        )


def attach_motion(
    sequences: Sequence[PixelSequence],
    method: str,
    frames: int,
    coarsen: int,
    interp_step: int = 1,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Estimate the motion field at every frame of every sequence (once; training caches it)."""
    from radar.motion import estimate_motion
    from radar.transforms import pixel_to_rain

    for seq in sequences:
        rain = pixel_to_rain(seq.pixels.astype(np.float32) / 255.0)
        motion = np.zeros((len(seq), 2, *seq.pixels.shape[1:]), dtype=np.float16)
        for a in range(1, len(seq)):
            lo = max(0, a + 1 - frames)
            motion[a] = estimate_motion(rain[lo : a + 1], method, frames, coarsen, interp_step)
        seq.motion = motion
        if progress:
            progress(f"{seq.name}: motion for {len(seq)} frames")


def augment_motion(motion: np.ndarray, quarter_turns: int, flip: bool) -> np.ndarray:
    """Motion (2, H, W) under the same ``np.rot90(axes=(1, 2))`` turns and column flip as its
    frames: the images move and so do the vectors (a turn maps (u, v) to (v, -u))."""
    u, v = motion[0], motion[1]
    for _ in range(quarter_turns % 4):
        u, v = np.rot90(v), -np.rot90(u)
    if flip:
        u, v = -u[:, ::-1], v[:, ::-1]
    return np.stack([u, v])


def _runs(times: pd.DatetimeIndex, cadence: pd.Timedelta) -> list[slice]:
    breaks = np.flatnonzero(np.diff(times.values) != cadence.to_timedelta64()) + 1
    edges = [0, *breaks.tolist(), len(times)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def load_sequences(
    source,
    resolution_m: float,
    cadence_minutes: float = 5,
    min_frames: int = 2,
    progress: Callable[[str], None] | None = None,
) -> list[PixelSequence]:
    """Decode one archive (folder, glob or list of files) into runs of consecutive frames."""
    index = index_frames(source)
    cadence = pd.Timedelta(minutes=cadence_minutes)
    sequences = []
    blobs: dict[str, list] = {}  # the archive file currently open: its decompressed members
    for run in _runs(index.index, cadence):
        refs = index.iloc[run]
        if len(refs) < min_frames:
            continue
        frames = []
        decoded: dict[tuple[str, str | None], object] = {}
        for ref in refs:
            if ref.path not in blobs:
                blobs = {ref.path: load(ref.path)}
            key = (ref.path, ref.member)
            if key not in decoded:
                members = blobs[ref.path]
                blob = next(
                    b for b in members if ref.member is None or b.name.endswith(":" + ref.member)
                )
                decoded = {key: read_blob(blob)}  # sequences in one file share it
            ds = decoded[key]
            factor = max(1, int(round(resolution_m / pixel_size(ds))))
            frame = coarsen(ds[["rainfall_rate"]].isel(time=[ref.index]).fillna(0.0), factor)
            pixels = rain_to_pixel(np.nan_to_num(frame["rainfall_rate"].values[0], nan=0.0))
            frames.append(np.round(pixels * 255).astype(np.uint8))
        name = f"{source if isinstance(source, str) else 'archive'}@{refs.index[0]:%Y%m%d%H%M}"
        sequences.append(PixelSequence(name, pd.DatetimeIndex(refs.index), np.stack(frames)))
        if progress:
            progress(f"{name}: {len(frames)} frames {frames[0].shape}")
    return sequences


def split_sequences(
    sequences: list[PixelSequence], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[PixelSequence]]:
    """Train / val / test by time (see the module docstring)."""
    out: dict[str, list[PixelSequence]] = {s: [] for s in SPLITS}
    ordered = sorted(sequences, key=lambda s: s.times[0])
    if len(ordered) >= 3:
        n = len(ordered)
        n_val = max(1, round(n * fractions[1]))
        n_test = max(1, round(n * fractions[2])) if fractions[2] > 0 else 0
        n_train = n - n_val - n_test
        out["train"] = ordered[:n_train]
        out["val"] = ordered[n_train : n_train + n_val]
        out["test"] = ordered[n_train + n_val :]
        return out
    for seq in ordered:
        a = int(round(len(seq) * fractions[0]))
        b = int(round(len(seq) * (fractions[0] + fractions[1])))
        for split, (lo, hi) in zip(SPLITS, ((0, a), (a, b), (b, len(seq))), strict=True):
            if hi > lo:
                out[split].append(seq.part(lo, hi, f":{split}"))
    return out


class WindowDataset:
    """Windows of ``length`` frames from pixel sequences, as float32 [length, 1, crop, crop].

    ``random=True`` (training): each item is a random window, a random crop that holds rain
    when one can be found in a few tries, and a random flip/rotation. ``random=False``
    (validation): a fixed list of windows and crops, the same every epoch. With ``anchor``
    (t_in - 1) set and sequences that carry motion, an item is ``(window, motion)``: the motion
    field known at the window's last input frame, cropped and turned like the frames.
    """

    def __init__(
        self,
        sequences: Sequence[PixelSequence],
        length: int,
        crop: int,
        random: bool = True,
        items_per_epoch: int = 512,
        augment: bool = True,
        min_wet_fraction: float = 0.02,
        seed: int = 0,
        anchor: int | None = None,
    ) -> None:
        self.sequences = [s for s in sequences if len(s) >= length]
        self.anchor = anchor
        if anchor is not None and any(s.motion is None for s in self.sequences):
            raise ValueError("advection-aware windows need sequences with motion")
        self.length, self.crop, self.random, self.augment = length, crop, random, augment
        self.min_wet = min_wet_fraction
        self.starts = [
            (i, t) for i, s in enumerate(self.sequences) for t in range(len(s) - length + 1)
        ]
        self.items = items_per_epoch if random else len(self.starts)
        self.seed = seed
        self.epoch = 0
        for s in self.sequences:
            if min(s.pixels.shape[1:]) < crop:
                raise ValueError(f"{s.name}: frames {s.pixels.shape[1:]} smaller than crop {crop}")
        if not random:
            rng = np.random.default_rng(seed)
            self.fixed = [self._choose_crop(i, t, rng) for i, t in self.starts]

    def __len__(self) -> int:
        return self.items if self.starts else 0

    def thin(self, count: int) -> None:
        """Keep ``count`` evenly spaced fixed windows (validation: the same every epoch)."""
        if self.random or len(self.starts) <= count:
            return
        keep = np.linspace(0, len(self.starts) - 1, count).round().astype(int)
        self.starts = [self.starts[k] for k in keep]
        self.fixed = [self.fixed[k] for k in keep]
        self.items = len(keep)

    def _choose_crop(self, i: int, t: int, rng: np.random.Generator) -> tuple[int, int]:
        seq = self.sequences[i]
        h, w = seq.pixels.shape[1:]
        best, best_wet = (0, 0), -1.0
        for _ in range(8):  # prefer crops with rain: most of a radar image is dry
            y = int(rng.integers(0, h - self.crop + 1))
            x = int(rng.integers(0, w - self.crop + 1))
            wet = float(
                (seq.pixels[t + self.length - 1, y : y + self.crop, x : x + self.crop] > 77).mean()
            )
            if wet > best_wet:
                best, best_wet = (y, x), wet
            if wet >= self.min_wet:
                break
        return best

    def __getitem__(self, k: int):
        import torch

        if self.random:
            rng = np.random.default_rng((self.seed, self.epoch, k))
            i, t = self.starts[int(rng.integers(len(self.starts)))]
            y, x = self._choose_crop(i, t, rng)
        else:
            rng = None
            i, t = self.starts[k]
            y, x = self.fixed[k]
        window = self.sequences[i].pixels[t : t + self.length, y : y + self.crop, x : x + self.crop]
        window = window.astype(np.float32) / 255.0
        motion = None
        if self.anchor is not None:
            field = self.sequences[i].motion[t + self.anchor]
            motion = field[:, y : y + self.crop, x : x + self.crop].astype(np.float32)
        if self.random and self.augment:
            turns, flip = int(rng.integers(4)), bool(rng.integers(2))
            window = np.rot90(window, turns, axes=(1, 2))
            if flip:
                window = window[:, :, ::-1]
            if motion is not None:
                motion = augment_motion(motion, turns, flip)
        window = torch.from_numpy(np.ascontiguousarray(window)[:, None])
        if motion is None:
            return window
        return window, torch.from_numpy(np.ascontiguousarray(motion))
