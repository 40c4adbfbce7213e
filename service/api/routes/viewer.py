"""The browser viewer (``/viewer``) and the API docs (``/docs``), both served without a CDN.

The viewer's page, script, style and border geometry are files of this package
(``service/viewer/static``); Swagger UI's script and style come from the ``fastapi-offline``
package's copy of them, so both pages work on a host without internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[2] / "viewer" / "static"

router = APIRouter(tags=["viewer"])


@router.get("/viewer", include_in_schema=False)
def viewer() -> FileResponse:
    return FileResponse(STATIC / "viewer.html", media_type="text/html")


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - API",
        swagger_js_url="/static/docs/swagger-ui-bundle.js",
        swagger_css_url="/static/docs/swagger-ui.css",
        swagger_favicon_url="/static/docs/favicon.png",
    )


def mount_static(app: FastAPI) -> None:
    """The viewer's files and Swagger UI's assets under /static."""
    import fastapi_offline

    swagger = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static/viewer", StaticFiles(directory=STATIC), name="viewer-static")
    app.mount("/static/docs", StaticFiles(directory=swagger), name="docs-static")
