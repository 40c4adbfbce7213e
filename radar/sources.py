"""radar.sources: turn what a user gives (paths or bytes) into bounded, named byte buffers.

Every byte that reaches a format reader passes through here, so the limits are enforced in one
place: compressed input (gzip, bzip2) is expanded as a stream and refused once it grows beyond
``max_bytes`` (a decompression bomb costs at most that much memory); tar archives are read
member by member, and members with absolute or ``..`` paths, links or devices are refused.
"""

from __future__ import annotations

import bz2
import gzip
import io
import math
import os
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from radar.exceptions import FormatError, SizeLimitError

#: The largest DWD frame (1500x1400 uint16, or DE1200 uint32 HDF5) is about 7 MB raw.
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: A whole archive (25 RADVOR members of 2.6 MB each is 66 MB).
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 400  # also the most frames of one NetCDF sequence
#: The most values one file may decode to (a float32 sequence of 256 MiB, some 48 DE1200
#: frames): a chunked HDF5 dataset that was never written costs nothing on disk whatever its
#: shape, and a GIF or PGM header may promise any size.
MAX_VALUES = 2**26
#: The most HDF5 chunks the variables of one file may declare: libhdf5 reads each on its own
#: (5-10 us apiece here), and a small file declaring a million one-value chunks took 20 s of
#: CPU (fuzzing). A frame of a real file is one chunk or a few dozen.
MAX_CHUNKS = 2**14
#: The most pixels of one frame (4096 x 4096; the largest grid read, EX, is 1500 x 1400).
MAX_FRAME_VALUES = 2**24
_CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"


@dataclass(frozen=True)
class Blob:
    """Raw bytes of one file (or archive member), decompressed, with the name it came from."""

    name: str
    data: bytes


def decompress(data: bytes, name: str, max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """Expand gzip or bzip2 data (by magic bytes, not by file name) within ``max_bytes``.

    Data that is not compressed is returned as it is. The stream is read in chunks, so a
    decompression bomb costs at most ``max_bytes`` of memory before :class:`SizeLimitError`;
    a damaged or truncated stream raises :class:`FormatError`.
    """
    if data[:2] == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=io.BytesIO(data))
    elif data[:3] == BZIP2_MAGIC:
        stream = bz2.BZ2File(io.BytesIO(data))
    else:
        if len(data) > max_bytes:
            raise SizeLimitError(f"{name}: larger than {max_bytes // 2**20} MiB")
        return data
    out = bytearray()
    try:
        with stream:
            while chunk := stream.read(_CHUNK):
                out += chunk
                if len(out) > max_bytes:
                    raise SizeLimitError(
                        f"{name}: expands to more than {max_bytes // 2**20} MiB when decompressed"
                    )
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        if isinstance(exc, SizeLimitError):
            raise
        raise FormatError(f"{name}: damaged or truncated compressed data ({exc})") from None
    return bytes(out)


def check_values(count: int, name: str, limit: int = MAX_VALUES) -> None:
    """Refuse, before reading it, data that would decode to more than ``limit`` values."""
    if count > limit:
        raise SizeLimitError(f"{name}: {count} values in its data, more than the limit {limit}")


def check_chunks(variables: Iterable, name: str, limit: int = MAX_CHUNKS) -> None:
    """Refuse, before reading them, variables (xarray's, opened lazily) that declare more than
    ``limit`` chunks in all (``encoding["chunksizes"]``; contiguous data counts one)."""
    count = 0
    for var in variables:
        chunks = var.encoding.get("chunksizes")
        if chunks and len(chunks) == len(var.shape):
            pairs = zip(var.shape, chunks, strict=True)
            count += math.prod(-(-int(n) // max(int(c), 1)) for n, c in pairs)
        else:
            count += 1
    if count > limit:
        raise SizeLimitError(f"{name}: {count} chunks in its data, more than the limit {limit}")


def is_tar(data: bytes) -> bool:
    """True for a POSIX/GNU tar archive (magic ``ustar`` at offset 257)."""
    return len(data) >= 262 and data[257:262] == b"ustar"


def safe_member_name(name: str) -> bool:
    """A member name that cannot escape an extraction folder."""
    if not name or name.startswith(("/", "\\")) or os.path.isabs(name):
        return False
    parts = name.replace("\\", "/").split("/")
    return ".." not in parts and ":" not in parts[0]


def iter_tar(data: bytes, name: str, max_member_bytes: int = MAX_FRAME_BYTES) -> Iterator[Blob]:
    """Yield the regular members of a tar archive held in memory, each decompressed and checked.

    Nothing is written to disk, but names are still checked so that a hostile archive is refused
    rather than silently trimmed.
    """
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        members = archive.getmembers()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FormatError(f"{name}: damaged tar archive ({exc})") from None
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise SizeLimitError(f"{name}: more than {MAX_ARCHIVE_MEMBERS} members")
    if not members:
        raise FormatError(f"{name}: empty tar archive")
    for member in members:
        if not safe_member_name(member.name):
            raise FormatError(f"{name}: refusing tar member with unsafe path {member.name!r}")
        if member.isdir():
            continue
        if not member.isfile():
            raise FormatError(f"{name}: refusing tar member {member.name!r} (link or device)")
        if member.size > max_member_bytes:
            raise SizeLimitError(f"{name}: member {member.name!r} is larger than the limit")
        handle = archive.extractfile(member)
        if handle is None:  # pragma: no cover - isfile() members always have data
            continue
        raw = handle.read()
        if len(raw) != member.size:
            raise FormatError(f"{name}: member {member.name!r} is truncated")
        yield Blob(
            f"{name}:{member.name}", decompress(raw, f"{name}:{member.name}", max_member_bytes)
        )


def load(source: str | os.PathLike | bytes | Blob, name: str | None = None) -> list[Blob]:
    """Read one source into decompressed blobs: one for a plain file, one per member for a tar.

    ``source`` is a path, raw bytes (then ``name`` labels it in messages) or a :class:`Blob`.
    """
    if isinstance(source, Blob):
        name, raw = source.name, source.data
    elif isinstance(source, bytes | bytearray | memoryview):
        name, raw = name or "<bytes>", bytes(source)
    else:
        path = Path(source)
        name = name or str(path)
        if not path.exists():
            raise FileNotFoundError(f"{name}: no such file")
        if path.is_dir():
            raise IsADirectoryError(f"{name}: is a folder, not a radar file")
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise SizeLimitError(f"{name}: larger than {MAX_ARCHIVE_BYTES // 2**20} MiB")
        raw = path.read_bytes()
    if not raw:
        raise FormatError(f"{name}: empty file")
    # Only a (compressed) tar archive may expand beyond one frame's limit.
    limit = MAX_ARCHIVE_BYTES if is_tar(_head(raw, name)) else MAX_FRAME_BYTES
    data = decompress(raw, name, limit)
    if not data:
        raise FormatError(f"{name}: empty after decompression")
    if is_tar(data):
        members = list(iter_tar(data, name))
        if not members:  # nothing to read: say so here rather than fail on no frames later
            raise FormatError(f"{name}: a tar archive with no files in it")
        return members
    return [Blob(name, data)]


def _head(raw: bytes, name: str, size: int = 512) -> bytes:
    """The first ``size`` decompressed bytes, enough to recognise a tar header."""
    try:
        if raw[:2] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
                return stream.read(size)
        if raw[:3] == BZIP2_MAGIC:
            with bz2.BZ2File(io.BytesIO(raw)) as stream:
                return stream.read(size)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise FormatError(f"{name}: damaged or truncated compressed data ({exc})") from None
    return raw[:size]


def base_name(name: str, default: str) -> str:
    """The last path component of a blob name (``archive.tar:dir/file`` -> ``file``)."""
    base = re.split(r"[/\\:]", name)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)
    return base if base.strip("._") else default


def expanded(blob: Blob) -> Blob:
    """The blob with gzip/bzip2 expanded (sources.load already does this; direct callers not)."""
    if blob.data[:2] == GZIP_MAGIC or blob.data[:3] == b"BZh":
        return Blob(blob.name, decompress(blob.data, blob.name))
    return blob
