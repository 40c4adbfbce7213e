"""workers.seam: all that the gateway and the workers share, and the only part of ``workers``
the gateway imports (DESIGN.md §2). Torch-free and onnxruntime-free; Celery and redis-py are
imported only when a queue or a Redis store is opened.

=====================  ======================================================================
settings               :class:`Settings` from the environment (``NOWCAST_*``, ``REDIS_URL``)
task names             :data:`INFERENCE_TASK`, :data:`TRAIN_TASK` (the gateway sends by name)
queueing               :func:`celery_config`, the one Celery configuration of both sides, and
                       :func:`open_runner`: Celery messages with Redis, a thread without
job ids                :func:`job_id` (content hash of a request), :func:`now_iso`
job store              :class:`JobStore` and :func:`open_store` (:mod:`workers.store`)
model listing          :class:`ModelInfo` (with the frames check :meth:`ModelInfo.check_times`
                       and its :class:`FramesMismatch`), :class:`Catalog` (:mod:`workers.catalog`)
=====================  ======================================================================

Changing how jobs are queued (queues, routes, time limits, acknowledgement) means editing this
module only: the Celery app of the workers (:mod:`workers.celery_app`) and the gateway's
sender both take :func:`celery_config`, and compose and the images name no queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from blake3 import blake3
from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers.catalog import PUBLIC_FIELDS, Catalog, FramesMismatch, ModelInfo
from workers.store import JobStore, MemoryJobStore, RedisJobStore

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "INFERENCE_TASK",
    "PUBLIC_FIELDS",
    "SHIPPED_MODELS",
    "TRAIN_TASK",
    "TRAIN_TIME_LIMIT_SECONDS",
    "Catalog",
    "FramesMismatch",
    "JobStore",
    "ModelInfo",
    "Runner",
    "Settings",
    "celery_config",
    "get_settings",
    "job_id",
    "make_celery",
    "now_iso",
    "open_runner",
    "open_store",
    "outage_errors",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# settings

#: The models shipped in the repository (the default model lives here).
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models" / "shipped"


class Settings(BaseSettings):
    """Every setting of the gateway and the workers (the README lists them). ``REDIS_URL`` is
    read without prefix as well, because it is the conventional name; without it the service
    runs embedded: jobs in-process, results in memory."""

    model_config = SettingsConfigDict(env_prefix="NOWCAST_", env_file=".env", extra="ignore")

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NOWCAST_REDIS_URL", "REDIS_URL"),
        description="Redis for jobs, results and the Celery broker; unset = embedded mode.",
    )
    redis_password_file: Path | None = Field(
        default=None, description="File holding the Redis password (a compose secret)."
    )
    model_dir: Path = Field(default=SHIPPED_MODELS, description="Folder of ONNX models to serve.")
    default_model: str | None = Field(
        default=None, description="Model used when a request names none."
    )
    result_ttl_seconds: int = Field(
        default=6 * 3600, ge=60, description="How long results are kept."
    )
    job_ttl_seconds: int = Field(
        default=24 * 3600, ge=60, description="How long job records are kept."
    )
    max_upload_mb: float = Field(default=200.0, gt=0, description="Limit of one request's uploads.")
    max_files: int = Field(default=64, ge=1, description="Limit of files in one request.")
    max_steps: int = Field(
        default=24, ge=1, description="Longest nowcast (frames) a client may ask."
    )
    task_time_limit_seconds: int = Field(default=900, ge=10, description="Hard limit of one job.")
    visibility_timeout_seconds: int | None = Field(
        default=None,
        ge=10,
        description="A job whose worker vanished (killed, host lost) is delivered again after "
        "this long; default: the task time limit + 60 s.",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Runs of one job before it ends failed (lost workers)."
    )
    run_lock_seconds: float = Field(
        default=30,
        gt=0,
        description="TTL of a job's run lock, renewed while it runs: how soon a redelivered "
        "job may start after its worker died.",
    )
    inference_queue: str = Field(default="inference", description="Celery queue of nowcast jobs.")
    train_queue: str = Field(default="train", description="Celery queue of training jobs.")
    device: str = Field(default="auto", description="auto, cuda or cpu for onnxruntime.")
    key_prefix: str = Field(default="nowcast:", description="Prefix of every Redis key.")
    api_keys: Literal["auto", "required", "off"] = Field(
        default="auto",
        description="API keys: auto = required when `nowcast serve` listens beyond localhost.",
    )
    rate_limit: str = Field(
        default="120/minute", description="Requests per key (a key may set its own)."
    )
    quota: str = Field(
        default="2000/day", description="POST /nowcast per key (a key may set its own)."
    )
    cors_origins: list[str] = Field(
        default=[], description="Origins allowed by CORS (JSON list); none by default."
    )

    @model_validator(mode="after")
    def _password_into_url(self) -> Settings:
        """The password of a secret file goes into the URL that redis-py and Celery use."""
        if self.redis_url and self.redis_password_file:
            from urllib.parse import quote, urlsplit, urlunsplit

            parts = urlsplit(self.redis_url)
            if not parts.password:
                secret = quote(self.redis_password_file.read_text().strip(), safe="")
                netloc = f"{parts.username or ''}:{secret}@{parts.hostname}"
                netloc += f":{parts.port}" if parts.port else ""
                self.redis_url = urlunsplit(parts._replace(netloc=netloc))
        return self

    @property
    def embedded(self) -> bool:
        return not self.redis_url

    @property
    def visibility_timeout(self) -> int:
        return self.visibility_timeout_seconds or self.task_time_limit_seconds + 60

    @property
    def stale_after_seconds(self) -> int:
        """A queued or running job older than this was lost (its message or its worker): the
        next identical request starts it again."""
        return self.task_time_limit_seconds


@lru_cache
def get_settings() -> Settings:
    return Settings()


# --------------------------------------------------------------------------------------------
# task names and the Celery configuration

INFERENCE_TASK = "workers.tasks.inference.run_nowcast"
TRAIN_TASK = "workers.tasks.training.train"

#: A training run lasts hours or days: the inference jobs' time limits must not apply to it.
TRAIN_TIME_LIMIT_SECONDS = 7 * 24 * 3600


def celery_config(settings: Settings) -> dict:
    """The Celery configuration of workers and gateway alike.

    Celery's guidance for long, expensive tasks: late acknowledgement with rejection when a
    worker process dies (the job is delivered again at once; :func:`workers.nowcast_job.run_job`
    is idempotent by job id, holds a per-job run lock and gives up after ``max_attempts``), one
    task reserved at a time, hard and soft time limits. A message whose whole worker vanished
    comes back after the Redis visibility timeout, a minute past the time limit. Training runs
    outlast any such timeout, so they are acknowledged when they start: a lost run is sent
    again by hand and resumes from its checkpoint. Results live in the job store, so Celery's
    result backend is off.
    """
    visibility = settings.visibility_timeout
    return {
        "task_routes": {
            INFERENCE_TASK: {"queue": settings.inference_queue},
            TRAIN_TASK: {"queue": settings.train_queue},
        },
        "task_default_queue": settings.inference_queue,
        "task_annotations": {
            TRAIN_TASK: {
                "time_limit": TRAIN_TIME_LIMIT_SECONDS,
                "soft_time_limit": TRAIN_TIME_LIMIT_SECONDS - 60,
                "acks_late": False,
            }
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_track_started": True,
        "task_ignore_result": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": 500,
        "task_time_limit": settings.task_time_limit_seconds,
        "task_soft_time_limit": max(settings.task_time_limit_seconds - 30, 5),
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # sweep for abandoned messages often enough to notice them soon after the timeout
            "unacked_restore_interval": max(1, min(10, visibility // 6)),
            "unacked_restore_throttle": 1,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker waits out a Redis restart
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
    }


def make_celery(
    settings: Settings | None = None, name: str = "nowcast", include: Iterable[str] = ()
) -> Celery:
    """A Celery app on the settings' Redis with :func:`celery_config`."""
    from celery import Celery

    settings = settings or get_settings()
    if not settings.redis_url:
        raise RuntimeError("Celery needs REDIS_URL (the embedded mode runs jobs in-process)")
    app = Celery(name, broker=settings.redis_url, include=list(include))
    app.conf.update(celery_config(settings))
    return app


# --------------------------------------------------------------------------------------------
# handing a job to a worker


#: Seconds a worker's published providers live in Redis; the worker refreshes them every
#: third of it, so a worker that is gone drops out of /readyz and /models by itself.
PROVIDERS_TTL_S = 90


def providers_key(settings: Settings, worker: str = "") -> str:
    return f"{settings.key_prefix}providers:{worker}"


def publish_providers(redis, settings: Settings, worker: str, providers: dict) -> None:
    """Say which onnxruntime providers each model's session in ``worker`` really uses."""
    redis.set(providers_key(settings, worker), json.dumps(providers), ex=PROVIDERS_TTL_S)


class Runner(Protocol):
    def submit(self, job_id: str) -> None: ...
    def workers_alive(self) -> bool: ...
    def providers(self) -> dict[str, dict[str, list[str]]]: ...
    def close(self) -> None: ...


class CeleryRunner:
    """A Celery message naming the task and the job id; the frames stay in Redis and are passed
    by reference, and the sender never imports the task code."""

    def __init__(self, settings: Settings):
        self.app = make_celery(settings, name="nowcast-gateway")
        self.settings = settings
        self._redis = None

    def providers(self) -> dict[str, dict[str, list[str]]]:
        """worker (host:pid of each child) -> model -> providers, as the workers published."""
        import redis

        if self._redis is None:
            self._redis = redis.Redis.from_url(self.settings.redis_url)
        prefix = providers_key(self.settings)
        found = {}
        for key in self._redis.scan_iter(f"{prefix}*"):
            raw = self._redis.get(key)
            if raw:
                found[key.decode()[len(prefix) :]] = json.loads(raw)
        return found

    def submit(self, job_id: str) -> None:
        self.app.send_task(INFERENCE_TASK, args=[job_id])  # routed by celery_config

    def workers_alive(self) -> bool:
        try:
            return bool(self.app.control.ping(timeout=1.0))
        except Exception:  # broker unreachable
            return False

    def close(self) -> None:
        pass


class EmbeddedRunner:
    """One background thread in this process runs the same job function a Celery worker runs,
    so both modes share every line of the job logic."""

    def __init__(self, settings: Settings, store: JobStore):
        from workers.nowcast_job import EngineCache

        self.store = store
        self.settings = settings
        self.engines = EngineCache(settings.model_dir, settings.device)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nowcast-job")

    def submit(self, job_id: str) -> None:
        from workers.nowcast_job import run_job

        s = self.settings
        self.pool.submit(
            run_job, job_id, self.store, self.engines, s.max_attempts, s.run_lock_seconds
        )

    def workers_alive(self) -> bool:
        return not self.pool._shutdown  # noqa: SLF001 - the executor has no public flag

    def providers(self) -> dict[str, dict[str, list[str]]]:
        """This process's sessions (created by the first job of each model)."""
        return {"embedded": self.engines.providers()}

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def open_runner(settings: Settings, store: JobStore) -> Runner:
    """Celery with Redis, else the embedded thread."""
    return EmbeddedRunner(settings, store) if settings.embedded else CeleryRunner(settings)


# --------------------------------------------------------------------------------------------
# job ids and the job store


def job_id(files: Iterable[bytes], model: str, version: str, params: dict) -> str:
    """Content hash of a request: the frames (in any order), the model and the parameters.

    BLAKE3, a cryptographic hash (the id decides whose result a client receives): on a cache
    hit the hash is most of the gateway's work after parsing, and BLAKE3 takes 2 ms of one
    core for four 2.6 MB DE1200 frames where SHA-256 (with the CPU's SHA instructions) took
    6 ms, or 5 ms spread over two threads.
    """
    digests = sorted(blake3(data).hexdigest() for data in files)
    payload = json.dumps(
        {"frames": digests, "model": model, "version": version, "params": params}, sort_keys=True
    )
    return blake3(payload.encode()).hexdigest()[:32]


def outage_errors() -> tuple[type[Exception], ...]:
    """What Redis raises when it cannot take a command now (down, restarting, full): the
    gateway answers these with 503 and Retry-After, the task retries."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError, OutOfMemoryError, TimeoutError

    return (ConnectionError, TimeoutError, OutOfMemoryError, OperationalError)


def now_iso() -> str:
    """The time stamps of job records: UTC, milliseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def open_store(settings: Settings) -> JobStore:
    """The deployment's Redis store, or an in-memory one in embedded mode."""
    if settings.embedded:
        return MemoryJobStore(settings.job_ttl_seconds, settings.result_ttl_seconds)
    return RedisJobStore(
        settings.redis_url,
        settings.key_prefix,
        settings.job_ttl_seconds,
        settings.result_ttl_seconds,
    )
