"""service.main: the FastAPI application (``create_app`` factory, ``app_factory`` for uvicorn).

The gateway is torch- and onnxruntime-free and knows the workers only through
:mod:`workers.seam` (DESIGN.md §2): settings, the model catalog, the job store and a runner
that queues a job by task name (or runs it in a thread in embedded mode) all come from there.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware

from service import multipart
from service.api.routes import feed, jobs, models, nowcast, utils, viewer
from service.auth import Guard
from service.errors import (
    ApiError,
    api_error_handler,
    http_error_handler,
    outage_handler,
    validation_error_handler,
)
from service.feed import open_feed
from service.guards import ContentLengthGuard, KeyGuard
from service.prometheus import Metrics
from workers.seam import (
    Catalog,
    Settings,
    get_settings,
    open_runner,
    open_store,
    outage_errors,
)

log = logging.getLogger(__name__)

DESCRIPTION = (Path(__file__).parent / "intro.md").read_text()


def build_state(app: FastAPI, settings: Settings) -> None:
    """What the routes use, all from the seam: settings, models, job store and runner; and
    the live feed when it is on (:mod:`service.feed`)."""
    state = app.state
    state.settings = settings
    state.catalog = Catalog.read(settings.model_dir, settings.default_model)
    state.metrics = Metrics()
    state.store = open_store(settings)
    state.runner = open_runner(settings, state.store)
    state.guard = Guard(settings, getattr(state.store, "redis", None), settings.api_keys)
    state.feed = open_feed(state)  # None unless NOWCAST_FEED_URL is set
    if not state.catalog.models:
        log.warning("no ONNX models in %s: POST /nowcast will answer 404", settings.model_dir)


#: Uploaded files stay the request's own chunks until the route reads them (no copy on the
#: event loop; Starlette's own parser spooled every frame over 1 MiB to a temporary file). The
#: body limit bounds the memory, and the route holds the whole upload in memory next.
multipart.install()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    body_limit = int(settings.max_upload_mb * 2**20) + 2**20

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        build_state(app, settings)
        yield
        if app.state.feed:
            app.state.feed.stop()
        app.state.runner.close()

    app = FastAPI(
        title="ms-nowcast",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by the viewer router, with local Swagger UI assets
    )
    # an oversized body is refused as soon as the stream passes the limit, before it is spooled
    # whole (Starlette's limiter), or at once from its Content-Length (the guard, outermost);
    # 1 MiB more than the uploads' limit for multipart framing and form fields
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=body_limit)
    # no key, no body: refused before the upload is read (inside the length check, which
    # costs nothing)
    app.add_middleware(KeyGuard)
    app.add_middleware(ContentLengthGuard, limit_bytes=body_limit)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    for error in outage_errors():
        app.add_exception_handler(error, outage_handler)
    routers = (nowcast, feed, jobs, models, utils, viewer)
    for router in routers:
        app.include_router(router.router)
    viewer.mount_static(app)
    if settings.cors_origins:  # closed unless origins are named
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Location", "Retry-After"],
        )

    @app.get("/", tags=["operations"], summary="Name, version and links")
    def root() -> dict:
        return {
            "name": "ms-nowcast",
            "version": app.version,
            "docs": "/docs",
            "viewer": "/viewer",
            "models": "/models",
        }

    return app


def app_factory() -> FastAPI:
    return create_app()
