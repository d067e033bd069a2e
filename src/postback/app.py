"""The application factory: settings in, one ASGI application out."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from postback.api.app import create_api
from postback.edge.app import EdgeApp
from postback.edge.click import ClickHandler
from postback.edge.http import Scope, client_ip
from postback.edge.postback import PostbackHandler
from postback.runtime import Runtime
from postback.settings import Settings
from postback.store.base import Store
from postback.store.factory import open_store


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
    api = create_api(
        settings,
        runtime.store,
        admin_key_hash=lambda: runtime.admin_key_hash,
        wake_dispatch=runtime.wake_dispatch,
        auth_failures=runtime.auth_failures,
    )
    app = EdgeApp(
        click=ClickHandler(runtime.store, runtime.clicks, caller_ip, runtime.metrics),
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
        fallback=api,
        startup=runtime.start,
        shutdown=runtime.stop,
        max_api_body=settings.max_api_body_bytes,
    )
    app.runtime = runtime  # type: ignore[attr-defined]
    return app
