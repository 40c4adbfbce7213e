"""service.guards: what stands before the routes: early refusals, before a body is read.

:class:`KeyGuard` checks the API key (and its rate) of every request that carries a body from
its headers, so a client without a key is refused before its upload is read; the routes'
``authorize`` dependency then finds the caller's record in the request state.

The body limit itself is Starlette's (``RequestBodyLimitMiddleware``: it counts the streamed
body and stops it past the limit, before it is spooled whole). This guard adds the cheap half
in the API's error shape: a request whose ``Content-Length`` already says too much is answered
413 before a byte of its body is read (Starlette would answer that one in plain text).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import ApiError, api_error_handler, outage_handler
from workers.seam import outage_errors

#: The request-state attribute that holds the caller's key record once the guard checked it.
KEY_RECORD = "api_key"


class ContentLengthGuard:
    """ASGI middleware: 413 ``too_large`` from the header alone."""

    def __init__(self, app: ASGIApp, limit_bytes: int):
        self.app = app
        self.limit = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > self.limit:
                response = JSONResponse(
                    {
                        "detail": f"the request body ({int(length) / 2**20:.1f} MiB) is larger "
                        f"than the upload limit ({self.limit / 2**20:.0f} MiB)",
                        "code": "too_large",
                    },
                    status_code=413,
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class KeyGuard:
    """ASGI middleware: 401/429 for a request with a body, from its headers alone.

    FastAPI parses a multipart body before it runs the route's dependencies, so a key checked
    there comes after the whole upload was read and spooled. Requests without a body (GET) are
    left to the dependency, which also knows which routes are public.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            request = Request(scope)
            try:  # Redis calls: off the event loop
                record = await run_in_threadpool(scope["app"].state.guard.authorize, request)
            except (ApiError, *outage_errors()) as exc:
                handler = api_error_handler if isinstance(exc, ApiError) else outage_handler
                response = await handler(request, exc)
                response.headers["Connection"] = "close"  # the unread body goes with it
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})[KEY_RECORD] = record
        await self.app(scope, receive, send)
