"""service.api.deps: what routes receive, as Annotated dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from workers.settings import Settings


def get_state(request: Request):
    return request.app.state


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StateDep = Annotated[object, Depends(get_state)]
