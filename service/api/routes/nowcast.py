"""POST /nowcast: upload radar frames, get a job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile

from service.api.deps import StateDep
from service.auth import charge_job
from service.errors import ApiError, error_responses
from service.schemas import JobPublic
from service.submission import public, submit
from service.validation import check_sequence, frame_infos, require_files

router = APIRouter(tags=["nowcast"], dependencies=[Depends(charge_job)])


def read_uploads(
    uploads: list[UploadFile], limit_bytes: int, max_files: int
) -> list[tuple[str, bytes]]:
    """Read the uploaded files (held as the request's chunks, :mod:`service.multipart`: the
    read joins them), refusing as soon as the total passes the limit. The request body itself
    is bounded earlier, while it streams in (:func:`service.main.create_app`,
    ``max_body_size``)."""
    if len(uploads) > max_files:
        raise ApiError(413, "too_large", f"{len(uploads)} files; at most {max_files} per request")
    files, total = [], 0
    for upload in uploads:
        # one read of at most what is left of the limit, plus one byte to see it passed
        data = upload.file.read(limit_bytes - total + 1)
        total += len(data)
        if total > limit_bytes:
            raise ApiError(413, "too_large", f"uploads exceed {limit_bytes / 2**20:g} MiB")
        files.append((upload.filename or f"frame{len(files)}", data))
    return files


@router.post(
    "/nowcast",
    status_code=202,
    response_model=JobPublic,
    summary="Start a nowcast from radar frames",
    responses={
        200: {"model": JobPublic, "description": "The same request was done before: cached job."},
        **error_responses(400, 401, 404, 413, 415, 422, 429, 503),
    },
)
def create_nowcast(
    state: StateDep,
    response: Response,
    frames: Annotated[
        list[UploadFile],
        File(
            description="One field per file: RADOLAN binary (.gz/.bz2, "
            "RADVOR tar), ODIM_H5, or one CF-NetCDF sequence."
        ),
    ] = None,
    model: Annotated[
        str | None, Form(description="Model name (GET /models); default model if empty.")
    ] = None,
    steps: Annotated[
        int | None,
        Form(description="Frames to forecast (5 min each); default: the model's t_out.", ge=1),
    ] = None,
):
    settings = state.settings
    # a plain function: FastAPI parses the multipart body on the event loop as it streams in,
    # then runs this (reading, header checks, hashing, storing) in its thread pool, so the
    # loop keeps answering other requests meanwhile
    files = read_uploads(frames or [], int(settings.max_upload_mb * 2**20), settings.max_files)
    entry = state.catalog.get(model)
    if entry is None:
        known = ", ".join(state.catalog.models) or "none installed"
        raise ApiError(404, "unknown_model", f"unknown model {model!r}; served: {known}")
    steps = steps or entry.t_out
    if steps > settings.max_steps:
        raise ApiError(422, "bad_parameter", f"steps={steps}: at most {settings.max_steps}")
    require_files(files)
    job, cached = submit(
        state.store,
        state.runner,
        files,
        entry,
        steps,
        lambda: check_sequence(frame_infos(files), entry),  # a cache hit skips the checks
        settings.stale_after_seconds,
    )
    state.metrics.requests.labels("cached" if cached else "new").inc()
    response.headers["Location"] = f"/jobs/{job['id']}"
    if cached and job["status"] == "succeeded":
        response.status_code = 200
    return public(job, cached)
