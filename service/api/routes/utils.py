"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from service.api.deps import StateDep
from service.auth import authorize
from service.errors import error_responses
from service.schemas import Health, Readiness
from workers.seam import outage_errors

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz(state: StateDep):  # on the event loop: answers even when the pool is busy
    return {"status": "ok", "mode": "embedded" if state.settings.embedded else "redis"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: store, workers, a model, and a fresh feed when it is on",
    responses={503: {"model": Readiness, "description": "Something the service needs is missing."}},
)
def readyz(state: StateDep, response: Response):
    checks: dict[str, bool | str] = {
        "store": state.store.ping(),
        "workers": state.runner.workers_alive(),
        "model": state.catalog.get() is not None,
    }
    fresh = state.feed.freshness() if state.feed else None
    if fresh:  # a stale feed is not ready: it says why instead of serving old nowcasts
        checks["feed"] = f"stale: {fresh['reason']}" if fresh["stale"] else True
    ready = all(v is True for v in checks.values())
    if not ready:
        response.status_code = 503
    try:
        providers = state.runner.providers()
    except outage_errors():  # Redis away: the store check says so already
        providers = {}
    return {"ready": ready, "checks": checks, "feed": fresh, "providers": providers}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401, 429)},
    dependencies=[Depends(authorize)],
)
def metrics(state: StateDep):
    fresh = state.feed.freshness() if state.feed else None
    body = state.metrics.render(state.store, fresh)
    return Response(body, media_type="text/plain; version=0.0.4")
