"""service.main: the FastAPI application (``create_app`` factory and module-level ``app``)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from service.api.routes import jobs, models, nowcast, utils
from service.errors import ApiError, api_error_handler
from service.metrics import Metrics
from workers.registry import default_model, list_models
from workers.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = (Path(__file__).parent / "intro.md").read_text()


def build_state(app: FastAPI, settings: Settings) -> None:
    from workers.jobstore import MemoryJobStore, RedisJobStore

    state = app.state
    state.settings = settings
    state.models = list_models(settings.model_dir)
    state.default_model = default_model(state.models, settings.model_dir, settings.default_model)
    state.metrics = Metrics()
    if settings.embedded:
        from service.runner import EmbeddedRunner

        state.store = MemoryJobStore(settings.job_ttl_seconds, settings.result_ttl_seconds)
        state.runner = EmbeddedRunner(settings, state.store)
    else:
        from service.runner import CeleryRunner

        state.store = RedisJobStore(
            settings.redis_url,
            settings.key_prefix,
            settings.job_ttl_seconds,
            settings.result_ttl_seconds,
        )
        state.runner = CeleryRunner(settings)
    if not state.models:
        log.warning("no ONNX models in %s: POST /nowcast will answer 404", settings.model_dir)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        build_state(app, settings)
        yield
        app.state.runner.close()

    app = FastAPI(
        title="ms-nowcast",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_exception_handler(ApiError, api_error_handler)
    for router in (nowcast.router, jobs.router, models.router, utils.router):
        app.include_router(router)

    @app.get("/", tags=["operations"], summary="Name, version and links")
    def root() -> dict:
        return {"name": "ms-nowcast", "version": app.version, "docs": "/docs", "models": "/models"}

    return app


def app_factory() -> FastAPI:
    return create_app()
