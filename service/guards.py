"""service.guards: what stands before the routes: the early refusal of oversized bodies.

The body limit itself is Starlette's (``RequestBodyLimitMiddleware``: it counts the streamed
body and stops it past the limit, before it is spooled whole). This guard adds the cheap half
in the API's error shape: a request whose ``Content-Length`` already says too much is answered
413 before a byte of its body is read (Starlette would answer that one in plain text).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send


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
