"""JSON in and out without binary floating point.

Requests: JSON numbers are read as Decimal, so `0.1` arrives as the text the caller wrote.
Answers: rendered with orjson, Decimal written as an exact JSON number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from postback.domain.payload import dumps


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number JSON allows", name, 0)


class ExactJsonRequest(Request):
    """A request whose JSON body keeps numbers exact (Decimal) and refuses NaN/Infinity."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            parsed = json.loads(
                await self.body(), parse_float=Decimal, parse_constant=_refuse_constant
            )
            # Every body is an object; a bare Decimal would slip through model validation
            # where any other scalar is refused, so it goes on as the text it was.
            self._json = str(parsed) if isinstance(parsed, Decimal) else parsed
        return self._json


class ExactJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(ExactJsonRequest(request.scope, request.receive))

        return exact_handler


class ApiResponse(JSONResponse):
    """JSON rendered by payload.dumps: Decimal as an exact number.

    A JSONResponse, so that the OpenAPI document describes each answer by its model.
    """

    def render(self, content: Any) -> bytes:
        return dumps(plain(content))


def plain(content: Any) -> Any:
    """Models (also inside dicts and lists) as plain data, Decimal and all."""
    if isinstance(content, BaseModel):
        return content.model_dump()
    if isinstance(content, dict):
        return {key: plain(value) for key, value in content.items()}
    if isinstance(content, list | tuple):
        return [plain(value) for value in content]
    return content


def reply(content: Any, status_code: int = 200) -> ApiResponse:
    return ApiResponse(content, status_code=status_code)


def new_router(tag: str) -> APIRouter:
    return APIRouter(route_class=ExactJsonRoute, default_response_class=ApiResponse, tags=[tag])


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: invalid_param, not_found, ...")
    message: str = Field(description="for people")
    param: str | None = Field(default=None, description="the field at fault (400)")


class ErrorBody(BaseModel):
    """Every refusal, whatever the status."""

    error: ErrorDetail


# What any route may answer besides its success.
ERRORS: dict[int, str] = {
    400: "a parameter or field is missing or malformed (`param` names it)",
    401: "no API key, or an unknown one",
    404: "no such resource, or not one this key may see",
    405: "method not allowed on this path",
    413: "the body is too large",
    415: "the body is not application/json",
    429: "too many failed authentications from this address; `retry_after` says how long to wait",
    503: "the database is unavailable; nothing was stored, retry later",
}


def error_responses(*extra: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    described = {**ERRORS, **dict(extra)}
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}


def route(
    router: APIRouter,
    spec: str,
    endpoint: Callable[..., Coroutine[Any, Any, Response]],
    model: Any,
    summary: str,
    status_code: int = 200,
    *,
    errors: tuple[tuple[int, str], ...] = (),
    description: str | None = None,
) -> None:
    """Register `endpoint` for "METHOD /path"; `model` documents the answer."""
    method, path = spec.split(" ", 1)
    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        status_code=status_code,
        response_model=model,
        summary=summary,
        description=description or endpoint.__doc__ or "",
        responses=error_responses(*errors),
    )
