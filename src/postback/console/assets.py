"""The console's static files, served from the package with long cache lifetimes.

Each URL carries a digest of the file's content (`/static/console.css?v=...`), so a
browser may keep a file for a year and still sees a new version at once.
"""

from __future__ import annotations

import hashlib
import mimetypes
from importlib import resources

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from postback.console.web import SECURITY_HEADERS

LONG_CACHE = "public, max-age=31536000, immutable"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class Assets:
    """Every file under console/static, read once (a few hundred kilobytes)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        root = resources.files("postback.console") / "static"
        self._collect(root, "")

    def _collect(self, folder: object, prefix: str) -> None:
        for entry in folder.iterdir():  # type: ignore[attr-defined]
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                self._collect(entry, f"{name}/")
            elif entry.is_file():
                data = entry.read_bytes()
                self.files[name] = (data, hashlib.sha256(data).hexdigest()[:12])

    def url(self, name: str) -> str:
        _, version = self.files[name]
        return f"/static/{name}?v={version}"

    def build_router(self) -> APIRouter:
        router = APIRouter()

        async def static_file(request: Request) -> Response:
            name = request.path_params["name"]
            found = self.files.get(name)
            if found is None:
                return Response("not found", status_code=404, media_type="text/plain")
            suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
            kind = TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "text/plain"
            headers = {
                "cache-control": LONG_CACHE,
                "x-content-type-options": SECURITY_HEADERS["x-content-type-options"],
            }
            return Response(found[0], media_type=kind, headers=headers)

        router.add_route(
            "/static/{name:path}", static_file, methods=["GET"], include_in_schema=False
        )
        return router
