"""Mounting the console on the API application: its pages at `/`, its files at `/static`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from jinja2 import Environment, PackageLoader, select_autoescape

from postback.console import (
    conversions,
    dashboard,
    login,
    logs,
    offers,
    partners,
    postbacks,
    reports,
)
from postback.console.assets import Assets
from postback.console.session import Sessions
from postback.console.web import Console
from postback.domain.money import format_amount
from postback.services.context import AppContext

PAGE_GROUPS = (login, dashboard, offers, partners, postbacks, conversions, logs, reports)


def money(value: Any) -> str:
    """An exact amount as text with at least two decimals: 12.5 -> 12.50."""
    if value is None:
        return ""
    text = format_amount(Decimal(str(value)))
    whole, _, part = text.partition(".")
    return f"{whole}.{part.ljust(2, '0')}"


def ratio(value: Any) -> str:
    """CR or EPC for reading: two decimals (the exact figure is in the API and CSV)."""
    if value is None:
        return ""
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):f}"


def when(value: Any) -> str:
    """An ISO 8601 UTC time as 'YYYY-MM-DD HH:MM:SS' (UTC), for tables."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.isoformat()
    return str(value).replace("T", " ")[:19]


def build_templates(assets: Assets) -> Environment:
    env = Environment(
        loader=PackageLoader("postback.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["when"] = when
    env.filters["ratio"] = ratio
    env.globals["asset"] = assets.url
    return env


def install_console(app: FastAPI, ctx: AppContext) -> None:
    """Add the console's routes (left out of the OpenAPI document) to the API app;
    the application factory (postback/app.py) calls it."""
    assets = Assets()
    app.state.console = Console(
        ctx=ctx, sessions=Sessions(ctx), templates=build_templates(assets), asset_url=assets.url
    )
    app.include_router(assets.build_router())
    for group in PAGE_GROUPS:
        app.include_router(group.build_router())
