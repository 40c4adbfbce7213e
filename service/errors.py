"""service.errors: one exception for every answer that is not a success, with a stable code."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers


async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(
        {"detail": exc.detail, "code": exc.code}, status_code=exc.status, headers=exc.headers
    )


#: Codes of the framework's own HTTP errors (unknown route, wrong method, oversized body...).
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's and FastAPI's own errors in this API's shape (``detail`` and ``code``)."""
    if exc.status_code == 413:
        detail = "the request body is larger than the upload limit (NOWCAST_MAX_UPLOAD_MB)"
    else:
        detail = str(exc.detail)
    return JSONResponse(
        {"detail": detail, "code": _HTTP_CODES.get(exc.status_code, "bad_request")},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own parameter checks (``steps=abc``) in this API's shape, as documented for
    422 (FastAPI's default body, a list of errors, matches no documented schema; schemathesis
    found it)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error.get('loc', ())[1:]) or 'request'}: {error.get('msg')}"
        for error in exc.errors()
    )
    return JSONResponse({"detail": problems, "code": "bad_parameter"}, status_code=422)


#: Seconds a client should wait before trying again while Redis is away (a restart takes a
#: few seconds; the clients' own retries have already covered the first ones).
OUTAGE_RETRY_AFTER = 5


async def outage_handler(request: Request, exc: Exception) -> JSONResponse:
    """Redis (job store or broker) cannot be reached or is full: 503 with Retry-After; the
    client library reconnects by itself, so the next request may succeed."""
    return JSONResponse(
        {
            "detail": f"the job store is unavailable ({type(exc).__name__}); retry",
            "code": "unavailable",
        },
        status_code=503,
        headers={"Retry-After": str(OUTAGE_RETRY_AFTER)},
    )


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
    429: ("rate_limited / quota_exceeded", "Too many requests for this key; see Retry-After."),
    401: (
        "unauthorized",
        "No API key, or an unknown or revoked one (send Authorization: Bearer KEY).",
    ),
    503: ("unavailable / not_ready", "Redis or the workers cannot be reached; see Retry-After."),
}


def error_responses(*statuses: int) -> dict:
    from service.schemas import ErrorBody

    return {
        s: {"model": ErrorBody, "description": f"`{ERRORS[s][0]}`: {ERRORS[s][1]}"}
        for s in statuses
    }
