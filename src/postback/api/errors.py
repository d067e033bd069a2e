"""Every refusal as {"error": {"code", "message", ...}} with a 4xx; HTTP codes chosen here."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from postback.api.responses import ApiResponse
from postback.errors import PostbackError, StoreUnavailable
from postback.http_status import retry_after_of, status_of
from postback.logthrottle import Throttled
from postback.services.schemas import param_name

log = logging.getLogger(__name__)
store_down = Throttled(log)

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}

_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")

# Where a field sits ("body", "query", ...) is not part of its name.
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "model_type", "dict_type"})


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **details: Any
) -> ApiResponse:
    body = {"error": {"code": code, "message": message, **details}}
    return ApiResponse(body, status_code=status, headers=dict(headers or {}))


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error")
        return f"malformed JSON: {reason}" if reason else "malformed JSON"
    if kind in _NOT_AN_OBJECT and tuple(error.get("loc", ())) == ("body",):
        return "the body must be a JSON object, sent with Content-Type: application/json"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


async def _validation_error(request: Request, exc: Exception) -> ApiResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return error_response(400, "invalid_param", "invalid request", param="body")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error_response(400, "invalid_json", _message(first), param="body")
    details: dict[str, Any] = {"param": param_name(first.get("loc", ()))}
    known = (first.get("ctx") or {}).get("known")
    if known is not None:
        details["known"] = list(known)
    if len(errors) > 1:
        details["errors"] = [
            {"param": param_name(e.get("loc", ())), "message": _message(e)} for e in errors
        ]
    return error_response(400, "invalid_param", _message(first), **details)


async def _http_error(request: Request, exc: Exception) -> ApiResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404 and exc.detail == "Not Found":
        message = "no such resource"
    elif isinstance(exc.detail, str):
        message = exc.detail
    else:
        message = HTTPStatus(status).phrase
    code = CODE_BY_STATUS.get(status, "http_error")
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(status, code, message, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (the router names only the first).

    Asked of the routes themselves, method by method, so included routers count too.
    """
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _postback_error(request: Request, exc: Exception) -> ApiResponse:
    assert isinstance(exc, PostbackError)
    status = status_of(exc)
    if status == 500:
        log.error("unmapped error %r", exc, extra={"action": "api_error"})
        return error_response(500, "internal", "internal error")
    if status == 503:
        store_down.warning("api_store_down", "database unavailable: %s", exc)
        message = (
            exc.public_message
            if isinstance(exc, StoreUnavailable)
            else "the database is unavailable, retry later"
        )
        return error_response(503, "unavailable", message)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = retry_after_of(exc)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return error_response(status, exc.code, exc.message, headers=headers, **exc.details)


async def _unexpected(request: Request, exc: Exception) -> ApiResponse:
    log.error("unexpected error", exc_info=exc, extra={"action": "api_error"})
    return error_response(500, "internal", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PostbackError, _postback_error)
