"""service.multipart: multipart uploads kept as the request's own chunks until a route reads them.

Starlette's parser copies every file part twice on the event loop (a slice of each chunk, then
a write into a growing ``BytesIO`` or a spooled temporary file) and the route copies it a third
time when it reads it back: for a 10.6 MB request of four DE1200 frames, a third of a cache
hit's time. :class:`ChunkedMultiPartParser` keeps each file part as views into the chunks that
the server received (no copy), and :class:`PartFile` joins them into one ``bytes`` on its first
read, which the nowcast route does in its thread pool: one copy in all, and none on the loop,
however large a part is (:func:`join`). Form fields (``model``, ``steps``) and every limit
stay Starlette's.
"""

from __future__ import annotations

import os
import tempfile

import starlette.requests
from starlette.formparsers import MultiPartParser

#: Parts larger than this are joined through a memory file: ``b"".join`` holds the GIL for the
#: whole copy (150 ms for 200 MB on this machine, a stall of the event loop although it runs
#: in the thread pool); writing the pieces and reading them back as one ``bytes`` lets go of it
#: in every system call, at twice the copying.
JOIN_IN_MEMORY_MAX = 8 * 2**20


def join(pieces: list) -> bytes:
    """The pieces as one ``bytes``; above :data:`JOIN_IN_MEMORY_MAX` without holding the GIL
    for longer than one piece."""
    total = sum(len(piece) for piece in pieces)
    if total <= JOIN_IN_MEMORY_MAX:
        return b"".join(pieces)
    if hasattr(os, "memfd_create"):  # Linux: in memory, never on a disk
        file = open(os.memfd_create("upload-part"), "w+b", buffering=0)
    else:
        file = tempfile.TemporaryFile(buffering=0)
    with file:
        for piece in pieces:
            view = memoryview(piece)
            while view:  # a raw write may be short
                view = view[file.write(view) :]
        data = os.pread(file.fileno(), total, 0)
    if len(data) != total:  # cannot happen for a memory or regular file; never guess
        raise OSError(f"read back {len(data)} of {total} bytes of an uploaded part")
    return data


class PartFile:
    """A read-only file over the pieces of one multipart part, joined on first use.

    A whole read from the start returns the joined ``bytes`` itself, without a copy.
    """

    #: Starlette's ``UploadFile`` calls the file directly, not in a thread, when this is false
    #: (it asks ``SpooledTemporaryFile`` the same); the data is in memory already.
    _rolled = False

    def __init__(self, pieces: list) -> None:
        self._pieces: list | None = pieces
        self._data = b""
        self._pos = 0
        self.closed = False

    def _joined(self) -> bytes:
        if self._pieces is not None:
            self._data = join(self._pieces)
            self._pieces = None  # the request's chunks can go
        return self._data

    def read(self, size: int = -1) -> bytes:
        data = self._joined()
        end = len(data) if size is None or size < 0 else min(len(data), self._pos + size)
        if self._pos == 0 and end == len(data):
            self._pos = end
            return data
        out, self._pos = data[self._pos : end], max(self._pos, end)
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._joined()))[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def write(self, data: bytes) -> int:
        raise OSError("an uploaded part is read-only")

    def close(self) -> None:
        self._pieces, self._data, self.closed = None, b"", True


class ChunkedMultiPartParser(MultiPartParser):
    """Starlette's multipart parser with file parts held as views into the received chunks."""

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        upload = self._current_part.file
        if upload is not None:
            upload.file.close()  # the spooled file Starlette made: never written
            self._pieces: list = []
            upload.file = PartFile(self._pieces)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is None:  # a form field: Starlette's size check
            super().on_part_data(data, start, end)
        elif isinstance(data, bytes):  # immutable: a view is safe to keep
            self._pieces.append(memoryview(data)[start:end])
        else:
            self._pieces.append(bytes(data[start:end]))

    def on_part_end(self) -> None:
        upload = self._current_part.file
        if upload is None:
            super().on_part_end()
            return
        upload.size = sum(len(piece) for piece in self._pieces)
        # Starlette would seek the file after the chunk (in a thread); it is at its start
        self.items.append((self._current_part.field_name, upload))


def install() -> None:
    """Make every ``Request.form()`` of this process use :class:`ChunkedMultiPartParser`
    (Starlette builds its parser by this module-level name)."""
    starlette.requests.MultiPartParser = ChunkedMultiPartParser
