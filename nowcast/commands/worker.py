"""``nowcast worker``: a Celery worker for the inference (or train) queue."""

from __future__ import annotations

import os

import click


@click.command("worker", help="Run a Celery worker (needs REDIS_URL).")
@click.option(
    "--queue", "-Q", default=None, help="Queue(s) to consume (default: the inference queue)."
)
@click.option(
    "--pool",
    default="prefork",
    show_default=True,
    help="prefork (time limits, redelivery when a child dies, pings during a job; sessions "
    "are created in the child after the fork, so CUDA works too), or solo/threads.",
)
@click.option("--concurrency", "-c", default=1, show_default=True, type=int)
@click.option("--loglevel", "-l", default="info", show_default=True)
@click.option("--hostname", "-n", default=None, help="Worker node name.")
def command(
    queue: str | None, pool: str, concurrency: int, loglevel: str, hostname: str | None
) -> None:
    from workers.seam import get_settings

    settings = get_settings()
    if settings.embedded:
        raise click.ClickException(
            "a worker needs REDIS_URL; without it `nowcast serve` runs jobs itself"
        )
    if settings.device == "cuda":
        # refuse at once (before any fork) rather than fail every job; this lists providers
        # only and creates no CUDA context; each child checks its real session again
        from workers.engine import choose_providers

        try:
            choose_providers("cuda")
        except RuntimeError as exc:
            raise click.ClickException(f"refusing to start: {exc}") from None
    # each child's onnxruntime threads: the cores shared by the children
    os.environ.setdefault(
        "NOWCAST_ORT_THREADS", str(max(1, len(os.sched_getaffinity(0)) // concurrency))
    )
    from workers.celery_app import get_app

    argv = [
        "worker",
        "-Q",
        queue or settings.inference_queue,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv += ["-n", hostname]
    get_app().worker_main(argv)
