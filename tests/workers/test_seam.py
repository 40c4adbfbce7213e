"""workers.seam.job_id: the content id that decides whose result a client receives."""

from __future__ import annotations

from workers.seam import job_id


def test_job_id_is_a_content_hash_of_frames_model_and_parameters() -> None:
    frames = [b"frame one", b"frame two" * 1000, b""]
    base = job_id(frames, "m", "1", {"steps": 6})
    assert len(base) == 32 and int(base, 16) >= 0
    assert job_id(reversed(frames), "m", "1", {"steps": 6}) == base  # order does not matter
    changed = [
        job_id([b"frame onE", *frames[1:]], "m", "1", {"steps": 6}),
        job_id(frames[:2], "m", "1", {"steps": 6}),
        job_id(frames, "n", "1", {"steps": 6}),
        job_id(frames, "m", "2", {"steps": 6}),
        job_id(frames, "m", "1", {"steps": 7}),
    ]
    assert len({base, *changed}) == 6
    # frames are hashed one by one: two frames are not their concatenation
    assert job_id([b"ab", b"c"], "m", "1", {}) != job_id([b"a", b"bc"], "m", "1", {})


def test_job_id_takes_any_buffer() -> None:
    """The gateway hashes the uploads as received (bytes); views hash the same."""
    data = b"x" * 100_000
    assert job_id([memoryview(data)], "m", "1", {}) == job_id([data], "m", "1", {})
