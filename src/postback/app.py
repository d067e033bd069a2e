"""The application factory: settings in, one ASGI application out. Here, and only here,
the adapters are assembled: the edge in front, the API and the console behind it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import FastAPI

from postback.api.app import create_api
from postback.console.app import install_console
from postback.edge.app import EdgeApp
from postback.edge.click import ClickHandler
from postback.edge.http import Scope, client_ip, trusted_header
from postback.edge.postback import PostbackHandler
from postback.runtime import Runtime
from postback.services.context import AppContext
from postback.services.ratelimit import FailureLimiter
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.sql import Store


def _no_wake() -> None:
    return None


def create_web(
    settings: Settings,
    store: Store,
    admin_key_hash: Callable[[], str | None],
    wake_dispatch: Callable[[], None] = _no_wake,
    auth_failures: FailureLimiter | None = None,
) -> FastAPI:
    """The API with the console's pages (outside the OpenAPI document).

    `admin_key_hash` returns the sha256 hex of the admin key (None: no admin key yet);
    `wake_dispatch` tells the delivery workers that something is due now;
    `auth_failures` counts failed authentications per client (shared with /postback).
    """
    ctx = AppContext(
        settings=settings,
        store=store,
        admin_key_hash=admin_key_hash,
        wake_dispatch=wake_dispatch,
        auth_failures=auth_failures or FailureLimiter(settings.auth_failures_per_minute),
    )
    app = create_api(ctx)
    install_console(app, ctx)
    return app


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    run_worker: bool = True,
    announce_key: Callable[[str], None] | None = None,
) -> EdgeApp:
    runtime = Runtime(
        settings, store or open_store(settings), run_worker=run_worker, announce_key=announce_key
    )
    caller_ip: Callable[[Scope], str | None] = partial(
        client_ip, trusted_proxies=settings.trusted_proxy_networks
    )
    web = create_web(
        settings,
        runtime.store,
        admin_key_hash=lambda: runtime.admin_key_hash,
        wake_dispatch=runtime.wake_dispatch,
        auth_failures=runtime.auth_failures,
    )
    app = EdgeApp(
        click=ClickHandler(
            runtime.store,
            runtime.clicks,
            caller_ip,
            runtime.metrics,
            runtime.visitors,
            # A trusted proxy's country header wins over the lookup (Cloudflare's).
            partial(
                trusted_header,
                name=b"cf-ipcountry",
                trusted_proxies=settings.trusted_proxy_networks,
            ),
        ),
        postback=PostbackHandler(
            runtime.store,
            runtime.incoming,
            caller_ip,
            runtime.metrics,
            settings.max_body_bytes,
            runtime.wake_dispatch,
            runtime.auth_failures,
        ),
        is_ready=runtime.store.is_ready,
        metrics=runtime.metrics.render,
        fallback=web,
        startup=runtime.start,
        shutdown=runtime.stop,
        max_api_body=settings.max_api_body_bytes,
    )
    app.runtime = runtime  # type: ignore[attr-defined]
    return app
