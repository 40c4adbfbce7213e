"""service.schemas: request and response models of the HTTP API (the template's naming)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class Links(BaseModel):
    self: str = Field(examples=["/jobs/3f2a..."])
    result: str | None = Field(default=None, examples=["/jobs/3f2a.../result"])


class JobPublic(BaseModel):
    """A nowcast job as clients see it."""

    id: str = Field(
        description="Content hash of frames, model and parameters.",
        examples=["3f2a9c0d51e84b7a9e6c1d2f0a4b5c6d"],
    )
    status: JobStatus = Field(examples=["queued"])
    status_url: str = Field(examples=["/jobs/3f2a9c0d51e84b7a9e6c1d2f0a4b5c6d"])
    progress: float = Field(ge=0, le=1, description="0 queued, 1 done.", examples=[0.4])
    model: str = Field(examples=["ms-convlstm-dwd"])
    steps: int = Field(
        description="Frames forecast (5 minutes each for the default model).", examples=[12]
    )
    frames: int = Field(description="Input frames received.", examples=[4])
    input_grid: str = Field(
        description="rows x cols of the input (and the result).", examples=["900x900"]
    )
    product: str = Field(examples=["RY"])
    created: str
    started: str | None = None
    finished: str | None = None
    compute_seconds: float | None = None
    result_bytes: int | None = None
    error: str | None = Field(default=None, description="Why a failed job failed.")
    attempts: int = Field(
        default=0, description="Runs started (more than 1: a worker was lost and it ran again)."
    )
    cached: bool = Field(
        default=False, description="True when this request was answered from an existing job."
    )
    links: Links


class ModelPublic(BaseModel):
    name: str
    t_in: int = Field(description="Input frames the model uses (the latest are taken).")
    t_out: int = Field(description="Frames one pass emits; longer nowcasts roll out.")
    cadence_minutes: float
    resolution_m: float = Field(description="Grid spacing the model runs at; inputs are regridded.")
    stride: int
    file: str
    metadata: dict = Field(
        default_factory=dict, description="Everything else in the ONNX metadata."
    )


#: worker (host:pid of each worker child, or ``embedded``) -> model -> onnxruntime providers.
PROVIDERS_DESCRIPTION = (
    "The onnxruntime providers each worker's sessions really use, as the workers published "
    "them: worker (host:pid of each child, or 'embedded') -> model -> providers, first used "
    "first (a worker publishes after its warm-up; embedded mode once a model has run)."
)


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int
    default: str | None
    providers: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description=PROVIDERS_DESCRIPTION
    )


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    detail: str = Field(examples=["need at least 4 frames for model ms-convlstm-dwd, got 2"])
    code: str = Field(examples=["too_few_frames"])


class Health(BaseModel):
    status: str
    mode: Literal["embedded", "redis"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool | str]
    providers: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description=PROVIDERS_DESCRIPTION
    )
    feed: dict | None = Field(
        default=None,
        description="With the feed on: ages (seconds) of the newest frame and nowcast, stale "
        "or not and why (times UTC), as GET /feed.",
    )
