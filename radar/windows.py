"""radar.windows: training and evaluation windows cut from a radar archive, read lazily.

An archive is a folder, a glob or a list of files (single frames, RADVOR archives or NetCDF
sequences). :func:`index_frames` learns only the valid time of every frame (from headers, not
from the data); :class:`Windows` then cuts runs of ``t_in + t_out`` consecutive frames at the
archive's cadence, skips any run with a gap, and reads a window's frames only when asked.
:func:`split_by_time` gives train / validation / test sets as consecutive blocks of time, and
drops the windows that would straddle two blocks, so no frame is in two sets.
"""

from __future__ import annotations

import glob as globlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radar.exceptions import FormatError, RadarError
from radar.headers import describe
from radar.sources import load


@dataclass(frozen=True)
class FrameRef:
    """Where one frame lives: a file (or archive member) and, for sequences, its index."""

    path: str
    member: str | None = None
    index: int = 0


def _expand(sources: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(sources, str | Path):
        sources = [sources]
    paths: list[Path] = []
    for source in sources:
        source = str(source)
        if any(ch in source for ch in "*?["):
            paths += [Path(p) for p in sorted(globlib.glob(source, recursive=True))]
        elif Path(source).is_dir():
            paths += sorted(p for p in Path(source).rglob("*") if p.is_file())
        else:
            paths.append(Path(source))
    return [p for p in paths if not p.name.startswith(".") and p.suffix not in (".md", ".txt")]


def index_frames(sources, skip_unreadable: bool = True) -> pd.Series:
    """Map every valid time in an archive to a :class:`FrameRef` (sorted by time).

    Unreadable files are skipped with their names kept in ``series.attrs["skipped"]``
    (or raise when ``skip_unreadable`` is False); a time seen twice keeps its first file.
    """
    refs: dict[pd.Timestamp, FrameRef] = {}
    skipped: list[str] = []
    for path in _expand(sources):
        try:
            blobs = load(path)
            for blob in blobs:
                member = blob.name.split(":", 1)[1] if ":" in blob.name and len(blobs) > 1 else None
                for i, t in enumerate(describe(blob).times):
                    refs.setdefault(t, FrameRef(str(path), member, i))
        except (RadarError, OSError) as exc:
            if not skip_unreadable:
                raise
            skipped.append(f"{path}: {exc}")
    if not refs:
        raise RadarError(f"no readable radar frames in {sources}")
    series = pd.Series(refs).sort_index()
    series.attrs["skipped"] = skipped
    return series


class Windows(Sequence):
    """Windows of ``t_in + t_out`` consecutive frames, each read on demand as mm/h.

    ``windows[i]`` is a float32 array (t_in + t_out, y, x); ``windows.times[i]`` its first
    valid time. Frames shared by neighbouring windows are kept in a small LRU cache.
    """

    def __init__(
        self,
        index: pd.Series,
        t_in: int,
        t_out: int,
        cadence_minutes: float = 5,
        stride: int = 1,
        starts: Sequence[pd.Timestamp] | None = None,
        cache_frames: int = 64,
        label_cadence_minutes: float | None = None,
    ) -> None:
        self.index = index
        self.t_in, self.t_out = t_in, t_out
        self.length = t_in + t_out
        self.cadence = pd.Timedelta(minutes=cadence_minutes)
        # dataset() labels a window's frames this far apart (default: as they are), so that
        # an archive of another cadence can be fed to a model of ours as if it were at its own
        self.label_cadence = pd.Timedelta(minutes=label_cadence_minutes or cadence_minutes)
        self.times = list(starts) if starts is not None else self._find_starts(stride)
        self._cache: OrderedDict[FrameRef, np.ndarray] = OrderedDict()
        self._cache_size = cache_frames
        self.grid = None

    def _find_starts(self, stride: int) -> list[pd.Timestamp]:
        present = set(self.index.index)
        starts = []
        for t in self.index.index:
            if all(t + k * self.cadence in present for k in range(self.length)):
                starts.append(t)
        return starts[::stride]

    def __len__(self) -> int:
        return len(self.times)

    def frame_times(self, i: int) -> list[pd.Timestamp]:
        return [self.times[i] + k * self.cadence for k in range(self.length)]

    def _frame(self, ref: FrameRef) -> np.ndarray:
        if ref in self._cache:
            self._cache.move_to_end(ref)
            return self._cache[ref]
        from radar.interface import read_blob

        blobs = load(ref.path)
        blob = next(
            (b for b in blobs if ref.member is None or b.name.endswith(":" + ref.member)), None
        )
        if blob is None:
            raise FormatError(f"{ref.path}: member {ref.member} not found")
        ds = read_blob(blob)
        if self.grid is None:  # every window shares the grid of the first frame read
            self.grid = ds.isel(time=[0])
        rain = ds["rainfall_rate"].values[ref.index]
        self._cache[ref] = rain
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rain

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return np.stack([self._frame(self.index[t]) for t in self.frame_times(i)])

    def labelled_times(self, i: int) -> list[pd.Timestamp]:
        """The times :meth:`dataset` gives window ``i``'s frames: ``label_cadence`` apart from
        its first (:meth:`frame_times` unless the frames are relabelled)."""
        return [self.times[i] + k * self.label_cadence for k in range(self.length)]

    def dataset(self, i: int):
        """Window ``i`` as a canonical sequence (with its grid and projection), its frames at
        :meth:`labelled_times`."""
        from radar.canonical import make_sequence
        from radar.grids import dataset_crs

        rain = self[i]
        return make_sequence(
            rain,
            self.labelled_times(i),
            self.grid["x"].values,
            self.grid["y"].values,
            dataset_crs(self.grid),
            dict(self.grid.attrs),
        )

    def subset(self, starts: Sequence[pd.Timestamp]) -> Windows:
        out = Windows(
            self.index,
            self.t_in,
            self.t_out,
            self.cadence / pd.Timedelta(minutes=1),
            starts=starts,
            cache_frames=self._cache_size,
            label_cadence_minutes=self.label_cadence / pd.Timedelta(minutes=1),
        )
        out._cache = self._cache  # the splits share one cache of frames
        out.grid = self.grid
        return out


def split_by_time(
    windows: Windows, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> tuple[Windows, Windows, Windows]:
    """Train / validation / test as consecutive blocks of time, in that order.

    The block borders are placed on the time axis of the frames; a window that would use
    frames of two blocks is dropped, so no frame (and no window) is in two sets.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError("fractions must be three non-negative numbers that sum to 1")
    times = windows.index.index
    first, last = times[0], times[-1] + windows.cadence
    span = last - first
    border1 = first + span * fractions[0]
    border2 = border1 + span * fractions[1]
    sets: list[list[pd.Timestamp]] = [[], [], []]
    for start in windows.times:
        end = start + (windows.length - 1) * windows.cadence
        for k, (lo, hi) in enumerate(((first, border1), (border1, border2), (border2, last))):
            if lo <= start and end < hi:
                sets[k].append(start)
    return tuple(windows.subset(s) for s in sets)  # type: ignore[return-value]
