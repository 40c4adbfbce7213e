"""The live feed (``NOWCAST_FEED_URL``): ``GET /nowcast/latest``, ``GET /frames/latest`` and
``GET /feed``. The latest nowcast is an ordinary job, shown by the job views."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from service.api.deps import StateDep
from service.api.routes.jobs import RESULT_RESPONSES, ResultQuery, render_result
from service.auth import authorize
from service.errors import ApiError, error_responses
from service.feed import iso

router = APIRouter(
    tags=["feed"], dependencies=[Depends(authorize)], responses=error_responses(401, 429)
)


def _feed(state):
    feed = getattr(state, "feed", None)
    if feed is None:
        raise ApiError(404, "feed_off", "the feed is off: set NOWCAST_FEED_URL (see README)")
    return feed


@router.get(
    "/feed",
    summary="The feed: newest frame and nowcast, their ages, stale or not and why (UTC)",
)
def feed_status(state: StateDep) -> dict:
    feed = getattr(state, "feed", None)
    return feed.freshness() if feed else {"enabled": False}


@router.get(
    "/nowcast/latest",
    summary="The newest nowcast of the feed, in any view of a job's result",
    responses={**RESULT_RESPONSES, **error_responses(503)},
)
def latest_nowcast(
    state: StateDep,
    query: Annotated[ResultQuery, Depends()],
    allow_stale: Annotated[
        bool, Query(description="Serve the newest nowcast even when the feed is stale.")
    ] = False,
):
    feed = _feed(state)
    fresh = feed.freshness()
    latest = feed.latest()
    if fresh["stale"] and not allow_stale:
        raise ApiError(
            503,
            "stale",
            f"the newest nowcast is stale: {fresh['reason']} (newest nowcast "
            f"{fresh['newest_nowcast_time'] or 'none'}, UTC; allow_stale=true serves it)",
        )
    if latest is None:
        raise ApiError(404, "no_nowcast", f"no nowcast yet: {fresh['reason']}")
    reference, job = latest
    response = render_result(state, job["id"], query)
    response.headers.update(
        {
            "X-Forecast-Reference-Time": iso(reference),
            "X-Job-Id": job["id"],
            "Content-Location": f"/jobs/{job['id']}/result",
            "Cache-Control": "no-cache",  # it changes every 5 minutes
        }
    )
    if fresh["stale"]:
        response.headers["X-Stale"] = fresh["reason"]
    return response


@router.get(
    "/frames/latest",
    summary="The newest observed frame of the feed: the file as published, or CF-NetCDF",
    responses={
        200: {"content": {"application/octet-stream": {}, "application/x-netcdf": {}}},
        **error_responses(404),
    },
)
def latest_frame(
    state: StateDep,
    format: Annotated[
        Literal["raw", "netcdf"], Query(description="raw: as DWD published it.")
    ] = "raw",
):
    feed = _feed(state)
    newest = feed.newest_frame()
    data = feed.state.frame(newest[1]) if newest else None
    if data is None:
        raise ApiError(404, "no_frame", "no frame yet")
    when, name = newest
    headers = {"X-Frame-Time": iso(when), "Cache-Control": "no-cache"}
    if format == "netcdf":
        from radar.netcdf import write_netcdf
        from radar.sequence import read_sequence
        from radar.sources import Blob

        body = write_netcdf(read_sequence([Blob(name, data)]))
        headers["Content-Disposition"] = f'attachment; filename="{name.split(".")[0]}.nc"'
        return Response(body, media_type="application/x-netcdf", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(data, media_type="application/octet-stream", headers=headers)
