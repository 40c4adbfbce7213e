"""The gateway's multipart parser (service.multipart): exact parts however the body is cut."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
import starlette.requests
from starlette.datastructures import Headers, UploadFile

import service.main  # noqa: F401 - installs the parser, as the app does
import service.multipart
from service.multipart import ChunkedMultiPartParser, PartFile, join


def body_of(files: list[tuple[str, bytes]], fields: dict) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=[("frames", f) for f in files], data=fields)
    return request.read(), request.headers["content-type"]


def parse(body: bytes, ctype: str, chunk: int):
    async def stream():
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    parser = ChunkedMultiPartParser(Headers({"content-type": ctype}), stream())
    return asyncio.run(parser.parse())


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65536, 10**9])
def test_parts_are_exact_however_the_body_is_cut(chunk: int) -> None:
    """Cuts inside boundaries and in data that looks like the start of one (python-multipart
    then hands over its look-behind buffer, not the chunk)."""
    data = os.urandom(20_000)
    files = [("a.bin", data), ("b.bin", b"\r\n--" + data[:1000] + b"\r\n-" * 50), ("empty", b"")]
    body, ctype = body_of(files, {"steps": "3", "model": "m"})
    form = parse(body, ctype, chunk)
    uploads = form.getlist("frames")
    assert all(isinstance(u, UploadFile) for u in uploads)
    assert [(u.filename, u.file.read()) for u in uploads] == files
    assert [u.size for u in uploads] == [len(data) for _, data in files]
    assert (form["steps"], form["model"]) == ("3", "m")


def test_a_whole_read_is_the_joined_bytes_themselves() -> None:
    """One join, then no copy: the nowcast route reads every part whole from its start."""
    part = PartFile([memoryview(b"abc"), memoryview(b"defg")])
    first = part.read(100)
    assert first == b"abcdefg" and part.read() == b"" and part.tell() == 7
    part.seek(0)
    assert part.read() is first
    part.seek(2)
    assert part.read(3) == b"cde" and part.read() == b"fg"
    with pytest.raises(OSError):
        part.write(b"x")


def test_the_gateway_parses_with_it() -> None:
    assert starlette.requests.MultiPartParser is ChunkedMultiPartParser


@pytest.mark.parametrize("limit", [10**9, 1000])
def test_large_parts_are_joined_the_same_through_a_memory_file(monkeypatch, limit: int) -> None:
    """Above the limit the pieces go through a memory file (the GIL is let go while copying);
    the bytes must be the same."""
    monkeypatch.setattr(service.multipart, "JOIN_IN_MEMORY_MAX", limit)
    data = os.urandom(300_000)
    pieces = [memoryview(data)[i : i + 4097] for i in range(0, len(data), 4097)]
    assert join(pieces) == data and join([]) == b""
    assert PartFile([*pieces, b"tail"]).read() == data + b"tail"
