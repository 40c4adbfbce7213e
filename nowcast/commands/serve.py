"""``nowcast serve``: the HTTP gateway (embedded default without REDIS_URL)."""

from __future__ import annotations

import click


@click.command(
    "serve", help="Run the HTTP API. Without REDIS_URL: embedded mode (jobs in-process)."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=1, show_default=True, help="Gateway processes (Redis mode only)."
)
@click.option(
    "--feed",
    metavar="URL",
    default=None,
    help="Follow this DWD open-data folder and keep the latest nowcast ready "
    "(= NOWCAST_FEED_URL), e.g. https://opendata.dwd.de/weather/radar/radolan/ry/",
)
@click.option("--log-level", default="info", show_default=True)
def command(host: str, port: int, workers: int, feed: str | None, log_level: str) -> None:
    import os

    if feed:  # the gateway processes read it from the environment (service.feed)
        os.environ["NOWCAST_FEED_URL"] = feed

    import uvicorn

    from service.auth import resolve_api_keys
    from workers.catalog import list_models
    from workers.seam import get_settings

    settings = get_settings()
    # keys are required when listening beyond localhost (NOWCAST_API_KEYS=auto); the gateway
    # processes read the resolved value from the environment
    api_keys = resolve_api_keys(settings.api_keys, host)
    if api_keys == "required" and settings.embedded:
        raise click.ClickException(
            f"--host {host} listens beyond localhost, so API keys are required, and they live "
            "in Redis: set REDIS_URL (or NOWCAST_API_KEYS=off on a trusted network)"
        )
    os.environ["NOWCAST_API_KEYS"] = api_keys
    get_settings.cache_clear()
    if settings.embedded and workers > 1:
        raise click.ClickException(
            "--workers > 1 needs REDIS_URL (embedded jobs live in one process)"
        )
    models = list_models(settings.model_dir)
    mode = (
        "embedded (no Redis: jobs run in this process)"
        if settings.embedded
        else f"redis {settings.redis_url}"
    )
    click.echo(
        f"ms-nowcast on http://{host}:{port}  mode: {mode}  models: {', '.join(models) or 'none'}"
        f"  API keys: {api_keys}  feed: {os.environ.get('NOWCAST_FEED_URL') or 'off'}"
        f"  docs: http://{host}:{port}/docs",
        err=True,
    )
    uvicorn.run(
        "service.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
