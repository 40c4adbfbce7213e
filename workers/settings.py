"""workers.settings: every setting of the gateway and workers, from the environment.

All settings are environment variables with the prefix ``NOWCAST_`` (a ``.env`` file works too);
the README lists them. ``REDIS_URL`` is the exception: it is read without prefix as well,
because it is the conventional name. Without a Redis URL the service runs its embedded default:
jobs run in-process and results are kept in memory. The settings live with the workers because
both the gateway and the workers read them, and nothing may import the gateway.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The models shipped in the repository (the default model lives here).
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models" / "shipped"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOWCAST_", env_file=".env", extra="ignore")

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NOWCAST_REDIS_URL", "REDIS_URL"),
        description="Redis for jobs, results and the Celery broker; unset = embedded mode.",
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
    inference_queue: str = Field(default="inference", description="Celery queue of nowcast jobs.")
    train_queue: str = Field(default="train", description="Celery queue of training jobs.")
    device: str = Field(default="auto", description="auto, cuda or cpu for onnxruntime.")
    key_prefix: str = Field(default="nowcast:", description="Prefix of every Redis key.")

    @property
    def embedded(self) -> bool:
        return not self.redis_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
