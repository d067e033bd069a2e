"""The application context as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from postback.services.context import AppContext


def get_context(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.api)


ContextDep = Annotated[AppContext, Depends(get_context)]
