"""service.api.deps: what routes receive, as Annotated dependencies.

Routes take the application state (built by :func:`service.main.build_state`): ``settings``,
``catalog``, ``store``, ``runner`` and ``metrics``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State


def get_state(request: Request) -> State:
    return request.app.state


StateDep = Annotated[State, Depends(get_state)]
