"""radar.fuzzing: hostile inputs for every reader, made by mutating real sample files.

Each input goes the way an upload goes: :func:`radar.sources.load` (decompression, tar), the
gateway's :func:`radar.headers.describe`, then the worker's full decode
(:func:`radar.sequence.read_frames`). The only exceptions allowed out are the documented ones,
:class:`radar.exceptions.RadarError` and its subclasses; anything else, and any input that takes
longer than :data:`SLOW_S`, is a finding.

Mutations are driven by a :class:`random.Random`, so that a run is reproducible from its seed
and hypothesis can drive the same mutations in the tests (``st.randoms()``): bit flips, byte
overwrites, truncation, inserted and repeated chunks, edits of the numbers in text headers
(dimensions among them), edits of HDF5 attributes and datasets (hostile values, huge chunked
datasets that cost nothing on disk), compression bombs and tar wrapping. ``nowcast bench fuzz``
runs thousands per format; ``tests/radar/test_fuzz.py`` a few hundred.
"""

from __future__ import annotations

import bz2
import gzip
import io
import math
import random
import re
import signal
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from radar.exceptions import RadarError
from radar.headers import describe
from radar.sequence import read_frames
from radar.sources import Blob, load

#: An input slower than this is a finding (the issue's bound).
SLOW_S = 1.0
#: An input still running after this long is stopped and reported as a hang.
HANG_S = 10.0

#: One real sample per format (paths below the shared data folder); the netcdf seed is ours,
#: written from the RADOLAN seed (:func:`seed_bytes`).
SEEDS: dict[str, str] = {
    "radolan": "dwd/radolan_to_netcdf/radolan_rw/raa01-rw_10000-1811220050-dwd---bin.gz",
    "odim": "dwd/odim_ry/20250604_1630_RY.h5",
    "netcdf": "dwd/radolan_to_netcdf/radolan_rw/raa01-rw_10000-1811220050-dwd---bin.gz",
    "radolan-ascii": "dwd/wradlib-data/radolan/asc/RW-20221018.tar.gz",
    "knmi-hdf5": "knmi_pcp_na/public_test_raw/2021-02-07-2005/202102072205.hf5",
    "mch-gif": "pysteps-data/radar/mch/20170131/AQC170311045F_00005.801.gif",
    "fmi-pgm": "pysteps-data/radar/fmi/pgm/20160928/"
    "201609281700_fmi.radar.composite.lowest_FIN_SUOMI1.pgm.gz",
    "bom-rf3": "pysteps-data/radar/bom/prcp-c10/66/2020/10/31/66_20201031_131000.prcp-c10.nc",
}

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HOSTILE_NUMBERS = (b"0", b"-1", b"1", b"99999999", b"4294967296", b"1e308", b"nan", b"", b"x")
_HOSTILE_VALUES = (0, -1, 2**31, 2**63 - 1, -(2**40), 1e308, float("nan"), float("inf"), "",
                   "x" * 300, b"\xff\xfe", "2021-13-45T99:99")  # fmt: skip


def seed_bytes(fmt: str, data_dir: Path) -> tuple[str, bytes]:
    """(file name, decompressed bytes) of the sample of ``fmt``: one file (an archive's first
    member), so that mutations hit the format and not only the compression around it."""
    path = data_dir / SEEDS[fmt]
    blob = load(path)[0]
    if fmt == "netcdf":
        from radar.netcdf import write_netcdf
        from radar.sequence import read_sequence

        return "frames.nc", write_netcdf(read_sequence(path), None)
    return blob.name.rsplit(":", 1)[-1].rsplit("/", 1)[-1], blob.data


# --- mutations: each takes (data, rnd) and returns new bytes -------------------------------


def _position(data: bytes, rnd: random.Random) -> int:
    """Half the time in the first 4 KiB, where the headers are."""
    limit = min(len(data), 4096) if rnd.random() < 0.5 else len(data)
    return rnd.randrange(max(limit, 1))


def bit_flips(data: bytes, rnd: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 16)):
        if out:
            out[_position(out, rnd)] ^= 1 << rnd.randrange(8)
    return bytes(out)


def overwrite(data: bytes, rnd: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        if out:
            pos = _position(out, rnd)
            out[pos : pos + 4] = bytes([rnd.choice((0, 0xFF, 0x7F, 0x80))]) * 4
    return bytes(out[: len(data)])


def truncate(data: bytes, rnd: random.Random) -> bytes:
    cut = rnd.choice((rnd.randrange(max(len(data), 1)), _position(data, rnd), len(data) - 1))
    return data[: max(cut, 0)]


def splice(data: bytes, rnd: random.Random) -> bytes:
    """Insert random bytes, or repeat a chunk of the file itself."""
    pos = _position(data, rnd)
    if rnd.random() < 0.5:
        chunk = rnd.randbytes(rnd.randint(1, 64))
    else:
        start = rnd.randrange(max(len(data), 1))
        chunk = data[start : start + rnd.randint(1, 4096)]
    return data[:pos] + chunk + data[pos:]


def header_numbers(data: bytes, rnd: random.Random) -> bytes:
    """Replace numbers in the text header (RADOLAN, PGM, ASCII grids): dimensions, times,
    lengths, scale factors; with huge, negative, empty or non-numeric ones."""
    head = data[:1024]
    spans = [m.span() for m in re.finditer(rb"[0-9]+(?:\.[0-9]+)?", head)]
    if not spans:
        return bit_flips(data, rnd)
    out = bytearray(data)
    for start, end in sorted(rnd.sample(spans, min(len(spans), rnd.randint(1, 3))), reverse=True):
        value = rnd.choice(_HOSTILE_NUMBERS)
        if rnd.random() < 0.5:  # keep the header's length, as a careful editor would
            value = value[: end - start].rjust(end - start, b" " if rnd.random() < 0.5 else b"0")
        out[start:end] = value
    return bytes(out)


def hdf5_edit(data: bytes, rnd: random.Random) -> bytes:
    """Edit an HDF5 (or netCDF-4) file the way a careless or hostile producer would: an
    attribute deleted or given a hostile value, or a dataset replaced by one of another type or
    of a huge shape (chunked and never written, so the file stays small)."""
    import h5py
    import numpy as np

    buf = io.BytesIO(data)
    try:
        with h5py.File(buf, "r+") as h5:
            items: list[tuple[str, object]] = []
            h5.visititems(lambda name, obj: items.append((name, obj)))
            items.append(("/", h5))
            name, obj = rnd.choice(items)
            datasets = [(n, o) for n, o in items if isinstance(o, h5py.Dataset) and o.ndim >= 2]
            if datasets and rnd.random() < 0.35:
                name, ds = rnd.choice(datasets)
                attrs = dict(ds.attrs)
                parent, leaf = ds.parent, name.rsplit("/", 1)[-1]
                del parent[leaf]
                if rnd.random() < 0.5:
                    shape = (rnd.choice((1, 3, 100_000, 2**20)), rnd.choice((1, 7, 100_000)))
                    new = parent.create_dataset(leaf, shape=shape, dtype=ds.dtype,
                                                chunks=(1, min(shape[1], 1024)))  # fmt: skip
                else:
                    new = parent.create_dataset(leaf, data=np.array([b"text"]))
                for key, value in attrs.items():
                    if key in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME"):
                        continue  # references into the old dataset: libhdf5 may crash on them
                    try:
                        new.attrs[key] = value
                    except (TypeError, ValueError, KeyError):  # dimension scales and lists
                        pass
            elif obj.attrs and rnd.random() < 0.8:
                key = rnd.choice(list(obj.attrs))
                if rnd.random() < 0.3:
                    del obj.attrs[key]
                else:
                    obj.attrs[key] = rnd.choice(_HOSTILE_VALUES)
            else:
                obj.attrs[rnd.choice(("what", "Conventions", "units"))] = rnd.choice(
                    _HOSTILE_VALUES
                )
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        return bit_flips(data, rnd)
    return buf.getvalue()


def compress(data: bytes, rnd: random.Random) -> bytes:
    """gzip or bzip2 around the data, sometimes cut short."""
    packed = gzip.compress(data, 1) if rnd.random() < 0.5 else bz2.compress(data, 1)
    return truncate(packed, rnd) if rnd.random() < 0.3 else packed


_BOMBS: dict[str, bytes] = {}


def bomb(data: bytes, rnd: random.Random) -> bytes:
    """A compression bomb: the file followed by far more zeros than any limit allows, as
    repeated streams of 8 MiB (concatenated gzip members and bzip2 streams decompress as one;
    a GiB packs into about a megabyte)."""
    kind = rnd.choice(("gz", "bz2"))
    if kind not in _BOMBS:
        zeros = bytes(8 * 2**20)
        _BOMBS[kind] = gzip.compress(zeros, 9) if kind == "gz" else bz2.compress(zeros, 9)
    tail = _BOMBS[kind] * rnd.choice((9, 128))  # 72 MiB: just past the frame limit; 1 GiB
    head = gzip.compress(data, 1) if kind == "gz" else bz2.compress(data, 1)
    return head + tail


def tar_wrap(data: bytes, rnd: random.Random) -> bytes:
    """The data as a tar member (sometimes twice, sometimes with a hostile member name)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for i in range(rnd.choice((1, 1, 2))):
            name = rnd.choice(("frame.bin", f"f{i}.h5", "../evil", "/abs", "d/" * 50 + "x"))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    packed = out.getvalue()
    return bit_flips(packed, rnd) if rnd.random() < 0.3 else packed


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bit_flips": bit_flips,
    "overwrite": overwrite,
    "truncate": truncate,
    "splice": splice,
    "header_numbers": header_numbers,
    "hdf5_edit": hdf5_edit,
    "compress": compress,
    "bomb": bomb,
    "tar_wrap": tar_wrap,
}


def mutate(data: bytes, rnd: random.Random) -> tuple[str, bytes]:
    """One hostile input: one to three mutations, weighted towards the ones that reach deep."""
    hdf5 = data[:8] == HDF5_MAGIC
    weights = {"bit_flips": 4, "overwrite": 2, "truncate": 2, "splice": 1,
               "header_numbers": 0 if hdf5 else 4, "hdf5_edit": 5 if hdf5 else 0,
               "compress": 1, "bomb": 0.2, "tar_wrap": 0.5}  # fmt: skip
    names = list(weights)
    applied = []
    for step in range(rnd.choice((1, 1, 1, 2, 3))):
        name = rnd.choices(names, [weights[n] for n in names])[0]
        if name == "hdf5_edit" and step:  # libhdf5 writing into a damaged file may crash
            name = "bit_flips"
        data = MUTATIONS[name](data, rnd)
        applied.append(name)
        if name in ("compress", "bomb", "tar_wrap"):  # containers go last
            break
    return "+".join(applied), data


# --- running inputs ------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm in an input that ran past :data:`HANG_S` (not an Exception, so no
    reader's ``except Exception`` swallows it)."""


@dataclass
class Outcome:
    mutation: str
    #: CPU seconds of the input: on a shared, loaded machine the wall time measures the
    #: neighbours as much as the reader (the hang alarm still counts wall time)
    seconds: float
    error: BaseException | None  # None: read fine, or refused with a documented error
    refused: str | None = None  # the documented error's type name


def run_input(name: str, data: bytes, hang_s: float = HANG_S) -> Outcome:
    """Send one input through the upload path; report what came out and how long it took."""

    def alarm(signum, frame):
        raise Hang(f"still running after {hang_s} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, hang_s)
    start = time.process_time()
    try:
        blobs = load(Blob(name, data))
        for blob in blobs:
            describe(blob)
        read_frames(blobs)
        return Outcome("", time.process_time() - start, None)
    except RadarError as exc:
        return Outcome("", time.process_time() - start, None, type(exc).__name__)
    except (Exception, Hang) as exc:  # noqa: BLE001 - every other type is the finding
        return Outcome("", time.process_time() - start, exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Report:
    """What one format's run found."""

    format: str
    inputs: int = 0
    accepted: int = 0
    refused: Counter = field(default_factory=Counter)  # documented error type -> count
    escaped: Counter = field(default_factory=Counter)  # other exception type -> count
    hangs: int = 0
    slow: int = 0  # inputs over SLOW_S
    slowest_s: float = 0.0
    slowest_mutation: str = ""
    seconds: list[float] = field(default_factory=list)  # CPU seconds of every input
    examples: dict[str, str] = field(default_factory=dict)  # escaped type -> mutation, message

    def percentile_s(self, q: float) -> float:
        """CPU seconds that ``q`` per cent of the inputs took at most (nearest rank)."""
        ordered = sorted(self.seconds)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    @property
    def ok(self) -> bool:
        return not self.escaped and not self.hangs and not self.slow


def make_input(fmt: str, data: bytes, seed: int, index: int) -> tuple[str, bytes]:
    """Input ``index`` of a run: its own generator, so any one input can be made again alone."""
    return mutate(data, random.Random(f"{fmt}:{seed}:{index}"))


def fuzz_format(fmt: str, data_dir: Path, inputs: int, seed: int = 0, start: int = 0) -> Report:
    """Run inputs ``start`` .. ``inputs - 1`` of the sample of ``fmt`` in this process."""
    name, data = seed_bytes(fmt, data_dir)
    run_input(name, data)  # imports and caches are not an input's cost
    report = Report(fmt)
    for index in range(start, inputs):
        mutation, hostile = make_input(fmt, data, seed, index)
        outcome = run_input(name, hostile)
        outcome.mutation = mutation
        record(report, outcome)
    return report


#: Address space of the child that runs the inputs: a huge allocation fails there as a
#: MemoryError (a finding) instead of pushing a shared machine into swap.
CHILD_MEMORY_BYTES = 6 * 2**30


def _child(fmt: str, data_dir: Path, inputs: int, seed: int, start: int, conn) -> None:
    import resource
    import warnings

    warnings.simplefilter("ignore")
    sys.unraisablehook = lambda unraisable: None  # h5netcdf's __del__ on files it never opened
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    name, data = seed_bytes(fmt, data_dir)
    run_input(name, data)
    for index in range(start, inputs):
        mutation, hostile = make_input(fmt, data, seed, index)
        out = run_input(name, hostile)
        error = None if out.error is None else (type(out.error).__name__, str(out.error)[:300])
        conn.send((index, mutation, out.seconds, error, out.refused))
        if isinstance(out.error, MemoryError):
            # a MemoryError may strike inside a lazy import and leave a module half made
            # (later inputs then fail with NameErrors): go on in a fresh child
            conn.send("restart")
            return
    conn.send(None)


def fuzz_isolated(
    fmt: str,
    data_dir: Path,
    inputs: int,
    seed: int = 0,
    save: Path | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """:func:`fuzz_format` in a child process, so that a crash of a C library (libhdf5 on a
    damaged file) is a finding too: the child is started again after the input that killed it.
    Inputs that escaped, hung, crashed or were slow are written to ``save``."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    report = Report(fmt)
    name, data = seed_bytes(fmt, data_dir)
    start = 0

    def keep(index: int) -> None:
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            (save / f"{fmt}-{seed}-{index}.bin").write_bytes(make_input(fmt, data, seed, index)[1])

    while start < inputs:
        parent, child = context.Pipe(duplex=False)
        proc = context.Process(target=_child, args=(fmt, data_dir, inputs, seed, start, child))
        proc.start()
        child.close()
        while True:
            try:
                message = parent.recv()
            except EOFError:  # the child died in the middle of input ``start``
                proc.join()
                outcome = Outcome(make_input(fmt, data, seed, start)[0], 0.0, None)
                outcome.error = Crash(f"the process died (exit code {proc.exitcode})")
                record(report, outcome)
                keep(start)
                start += 1
                break
            if message is None:
                proc.join()
                return report
            if message == "restart":
                proc.join()
                break
            index, mutation, seconds, error, refused = message
            outcome = Outcome(mutation, seconds, None, refused)
            if error is not None:
                outcome.error = Hang(error[1]) if error[0] == "Hang" else Escaped(*error)
            record(report, outcome)
            if outcome.error is not None or seconds > SLOW_S:
                keep(index)
            if progress and report.inputs % 1000 == 0:
                progress(report)
            start = index + 1
    return report


class Crash(Exception):
    """The input killed the process that read it (a signal, or a C library's abort)."""


class Escaped(Exception):
    """An undocumented exception seen in the child, under its own type name."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def record(report: Report, outcome: Outcome) -> None:
    report.inputs += 1
    report.seconds.append(outcome.seconds)
    if outcome.seconds > report.slowest_s:
        report.slowest_s, report.slowest_mutation = outcome.seconds, outcome.mutation
    report.slow += outcome.seconds > SLOW_S
    if isinstance(outcome.error, Hang):
        report.hangs += 1
    elif outcome.error is not None:
        kind = getattr(outcome.error, "kind", type(outcome.error).__name__)
        report.escaped[kind] += 1
        report.examples.setdefault(kind, f"{outcome.mutation}: {outcome.error}"[:300])
    elif outcome.refused:
        report.refused[outcome.refused] += 1
    else:
        report.accepted += 1
