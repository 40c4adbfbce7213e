"""GET /jobs/{id} and GET /jobs/{id}/result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from service.api.deps import StateDep
from service.auth import authorize
from service.errors import ApiError, error_responses
from service.schemas import JobPublic
from service.submission import public

router = APIRouter(
    prefix="/jobs",
    tags=["jobs"],
    dependencies=[Depends(authorize)],
    responses=error_responses(401, 429, 503),
)


def _job(state, job_id: str) -> dict:
    job = state.store.get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job {job_id} (unknown, or expired)")
    return job


@router.get(
    "/{job_id}",
    response_model=JobPublic,
    summary="Status and progress of a job",
    responses=error_responses(404),
)
def get_job(job_id: str, state: StateDep):
    return public(_job(state, job_id))


FORMATS = Literal["netcdf", "geotiff", "json", "png", "gif", "layer", "borders"]

#: The answer of every result route (a job's and the feed's latest).
RESULT_RESPONSES = {
    200: {
        "content": {
            "application/x-netcdf": {},
            "image/tiff": {},
            "application/json": {},
            "image/png": {},
            "image/gif": {},
        },
        "description": "NetCDF: rainfall_rate (mm/h, int16 x 0.01) per valid time on the "
        "input grid, the last observed frames, and with probability=true "
        "probability_of_exceedance per threshold. GeoTIFF: one band per lead (per threshold "
        "and lead for probabilities). json: area statistics, or with lat/lon a point "
        "forecast (Open-Meteo shape). png/gif: maps with colour scale; layer: one frame as "
        "a transparent map layer; borders: country borders in pixel coordinates. Times UTC.",
    },
    **error_responses(404, 409, 422),
}


@dataclass
class ResultQuery:
    """The view parameters of a result, shared by ``/jobs/{id}/result`` and
    ``/nowcast/latest``."""

    format: Annotated[FORMATS, Query(description="View of the result.")] = "netcdf"
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees: subset every view.")
    ] = None
    probability: Annotated[
        bool, Query(description="netcdf/geotiff: add exceedance probabilities.")
    ] = False
    thresholds: Annotated[
        str | None, Query(description="Thresholds in mm/h, e.g. 0.1,1,5 (the default).")
    ] = None
    lat: Annotated[
        str | None, Query(description="json: point forecast at these latitudes (comma list)...")
    ] = None
    lon: Annotated[str | None, Query(description="...and longitudes.")] = None
    pixel: Annotated[
        str | None, Query(description="json: point forecast at grid pixel row,col instead.")
    ] = None
    rain_threshold: Annotated[
        float, Query(gt=0, description="json point: rain start/end at this rate (mm/h).")
    ] = 0.1
    step: Annotated[
        int, Query(description="png/layer: 1..N forecast lead, 0 last observed, -1 before...")
    ] = 1
    layer: Annotated[
        Literal["rain", "probability"], Query(description="png/gif/layer: what to map.")
    ] = "rain"
    threshold: Annotated[
        float, Query(gt=0, description="png/gif/layer with layer=probability: mm/h.")
    ] = 1.0


def render_result(state, job_id: str, query: ResultQuery) -> Response:
    """The asked view of a job's result (409 while it is not ready, 422 for bad parameters)."""
    job = _job(state, job_id)
    if job["status"] == "failed":
        raise ApiError(409, "job_failed", f"job failed: {job.get('error')}")
    if job["status"] != "succeeded":
        raise ApiError(
            409,
            "not_ready",
            f"job is {job['status']} ({job.get('progress', 0):.0%}); poll /jobs/{job_id}",
        )
    data = state.store.result(job_id)
    if data is None:
        raise ApiError(404, "job_not_found", "the result has expired; send the request again")
    from radar.exceptions import RadarError
    from service.views import result_view

    params = asdict(query)
    fmt = params.pop("format")
    try:
        body, media_type, extension = result_view(data, fmt, **params)
    except (ValueError, RadarError) as exc:
        raise ApiError(422, "bad_parameter", str(exc)) from None
    headers = {"Cache-Control": "private, max-age=3600"}
    if extension:
        headers["Content-Disposition"] = f'attachment; filename="nowcast-{job_id}.{extension}"'
    return Response(body, media_type=media_type, headers=headers)


@router.get(
    "/{job_id}/result",
    summary="The nowcast: CF-NetCDF (default), GeoTIFF, JSON, point forecast, PNG, GIF",
    responses=RESULT_RESPONSES,
)
def get_result(job_id: str, state: StateDep, query: Annotated[ResultQuery, Depends()]):
    return render_result(state, job_id, query)
