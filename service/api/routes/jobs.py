"""GET /jobs/{id} and GET /jobs/{id}/result."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from service.api.deps import StateDep
from service.errors import ApiError, error_responses
from service.schemas import JobPublic
from service.submission import public

router = APIRouter(prefix="/jobs", tags=["jobs"])


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


@router.get(
    "/{job_id}/result",
    summary="The nowcast: CF-NetCDF (default), JSON or PNG",
    responses={
        200: {
            "content": {"application/x-netcdf": {}, "application/json": {}, "image/png": {}},
            "description": "NetCDF: rainfall_rate (mm/h, uint16 x 0.01) per valid time, "
            "on the input grid.",
        },
        **error_responses(404, 409, 422),
    },
)
def get_result(
    job_id: str,
    state: StateDep,
    format: Annotated[
        Literal["netcdf", "json", "png"], Query(description="View of the result.")
    ] = "netcdf",
    lat: Annotated[
        float | None, Query(ge=-90, le=90, description="json: rain at this latitude...")
    ] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="...and longitude")] = None,
    step: Annotated[
        int, Query(ge=1, description="png: lead index (1 = first forecast frame).")
    ] = 1,
):
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
    if format == "netcdf":
        return Response(
            data,
            media_type="application/x-netcdf",
            headers={"Content-Disposition": f'attachment; filename="nowcast-{job_id}.nc"'},
        )
    from service.views import json_view, png_view

    try:
        if format == "json":
            if (lat is None) != (lon is None):
                raise ValueError("give both lat and lon, or neither")
            import json

            return Response(json.dumps(json_view(data, lat, lon)), media_type="application/json")
        return Response(png_view(data, step), media_type="image/png")
    except ValueError as exc:
        raise ApiError(422, "bad_parameter", str(exc)) from None
