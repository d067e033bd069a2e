"""The API application factory: nothing is built at import."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from postback.api import (
    advertisers,
    affiliates,
    alerts,
    conversions,
    costs,
    deliveries,
    incoming,
    links,
    offers,
    postback_secrets,
    postbacks,
    reports,
    templates,
    trial,
)
from postback.api.errors import install_error_handlers
from postback.api.responses import ApiResponse
from postback.services.context import AppContext

PREFIX = "/api/v1"
RESOURCES = (
    advertisers,
    offers,
    affiliates,
    postbacks,
    postback_secrets,
    trial,
    conversions,
    deliveries,
    incoming,
    links,
    reports,
    costs,
    templates,
    alerts,
)


def create_api(ctx: AppContext) -> FastAPI:
    """The admin and affiliate REST API over the application's context."""
    app = FastAPI(
        title="Postback API",
        version="1",
        summary="Configure advertisers, offers, affiliates and postbacks; read what happened.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        swagger_ui_oauth2_redirect_url=f"{PREFIX}/docs/oauth2-redirect",
        redoc_url=None,
        default_response_class=ApiResponse,
    )
    app.state.api = ctx
    install_error_handlers(app)
    for resource in RESOURCES:
        app.include_router(resource.build_router(), prefix=PREFIX)
    _describe_refusals_as_they_are(app)
    return app


def _describe_refusals_as_they_are(app: FastAPI) -> None:
    """Validation failures answer 400 with the error shape, never FastAPI's 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = document.get("components", {}).get("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
