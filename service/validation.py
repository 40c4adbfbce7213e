"""service.validation: the gateway's cheap checks of an upload, answered at once with a 4xx.

Only headers are read here (format, product, times, grid: :mod:`radar.headers`); the full
decode happens in the worker, which runs the same check functions again on the real data.
"""

from __future__ import annotations

from radar.exceptions import FormatError, RadarError, SequenceError, SizeLimitError
from radar.headers import FrameInfo, describe
from radar.sequence import check_frames
from radar.sources import Blob, load
from service.errors import ApiError
from workers.seam import FramesMismatch, ModelInfo


def require_files(files: list[tuple[str, bytes]]) -> None:
    """400 ``no_files`` for a request without frames."""
    if not files:
        raise ApiError(
            400, "no_files", "no frames uploaded: send one multipart field 'frames' per file"
        )


def frame_infos(files: list[tuple[str, bytes]]) -> list[FrameInfo]:
    """Describe every uploaded file (archives: every member); 4xx on unreadable input."""
    require_files(files)
    infos: list[FrameInfo] = []
    for name, data in files:
        try:
            for blob in load(Blob(name, data)):
                infos.append(describe(blob))
        except SizeLimitError as exc:
            raise ApiError(413, "too_large", str(exc)) from None
        except FormatError as exc:
            reason = str(exc).split(": ", 1)[-1]  # after the file name, which may say anything
            code = (
                "unsupported_format"
                if reason.startswith(("unknown format", "empty"))
                else "bad_frames"
            )
            raise ApiError(415 if code == "unsupported_format" else 422, code, str(exc)) from None
        except RadarError as exc:
            raise ApiError(422, "bad_frames", str(exc)) from None
    return infos


def check_sequence(infos: list[FrameInfo], model: ModelInfo) -> dict:
    """Check that the frames can feed ``model``; returns a summary (product, grid, count).

    The checks are the data layer's and the model's own (:func:`radar.sequence.check_frames`,
    :meth:`workers.catalog.ModelInfo.check_times`), run here on headers; their ``kind`` is
    the error code. Gaps are left to the model's cadence check, which names the model.
    """
    try:
        check_frames(infos, allow_gaps=True)
        times = sorted((t, info.name) for info in infos for t in info.times)
        model.check_times([t for t, _ in times], [name for _, name in times])
    except (SequenceError, FramesMismatch) as exc:
        raise ApiError(422, exc.kind, str(exc)) from None
    first = infos[0]
    return {
        "product": first.product,
        "grid": f"{first.shape[0]}x{first.shape[1]}",
        "frames": len(times),
    }
