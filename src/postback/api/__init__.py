"""The admin and affiliate REST API under /api/v1."""

from postback.api.app import create_api

__all__ = ["create_api"]
