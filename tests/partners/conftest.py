"""The real server (once per backend and module) and a real receiver for the partners'
end-to-end plays."""

from __future__ import annotations

from tests.e2e.conftest import receiver, server

__all__ = ["receiver", "server"]
