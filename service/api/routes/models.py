"""GET /models: the models this service serves, with their metadata and scores."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.api.deps import StateDep
from service.auth import authorize
from service.errors import error_responses
from service.schemas import ModelsPublic
from workers.seam import PUBLIC_FIELDS

router = APIRouter(
    tags=["models"], dependencies=[Depends(authorize)], responses=error_responses(401, 429)
)


@router.get("/models", response_model=ModelsPublic, summary="Served models")
def list_served(state: StateDep):
    data = []
    for entry in state.catalog.models.values():
        info = entry.public()
        data.append(
            {
                **{k: info[k] for k in PUBLIC_FIELDS},
                "metadata": {k: v for k, v in info.items() if k not in PUBLIC_FIELDS},
            }
        )
    return {
        "data": data,
        "count": len(data),
        "default": state.catalog.default,
        "providers": state.runner.providers(),
    }
