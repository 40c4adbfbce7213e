"""service.errors: one exception for every answer that is not a success, with a stable code."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status)


#: Documented errors (status -> (code, meaning)) for OpenAPI.
ERRORS = {
    400: ("no_files / bad_request", "No frames uploaded, or a malformed request."),
    404: ("unknown_model / job_not_found", "The model or job does not exist (or has expired)."),
    409: ("not_ready / job_failed", "The job has no result (yet): still running, or failed."),
    413: ("too_large", "Uploads exceed the size or file-count limit."),
    415: (
        "unsupported_format",
        "A file is not RADOLAN binary, ODIM_H5 or CF-NetCDF (garbage bytes).",
    ),
    422: (
        "too_few_frames / mixed_grids / mixed_products / not_consecutive / bad_frames / "
        "bad_parameter",
        "The frames cannot form the sequence the model needs.",
    ),
    503: ("not_ready", "Redis or the workers cannot be reached."),
}


def error_responses(*statuses: int) -> dict:
    from service.schemas import ErrorBody

    return {
        s: {"model": ErrorBody, "description": f"`{ERRORS[s][0]}`: {ERRORS[s][1]}"}
        for s in statuses
    }
