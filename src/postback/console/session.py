"""Console sessions: a signed cookie naming the key that logged in, and CSRF tokens.

The cookie holds `{k: sha256 of the key, e: expiry, n: random nonce}`, base64url JSON
plus an HMAC-SHA256 of it. Each request identifies the caller again from `k` with the
API's own rule (`caller_for_digest`), so a replaced affiliate key, a paused affiliate or a
new admin key ends its sessions at once. The CSRF token of a session is an HMAC of its
nonce; before login, the login form's token is an HMAC of a nonce in a short-lived cookie
of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from postback.errors import Unauthorized
from postback.services.caller import Caller, caller_for_digest
from postback.services.context import AppContext

SESSION_COOKIE = "postback_session"
LOGIN_COOKIE = "postback_login"
LOGIN_COOKIE_SECONDS = 3600
SECRET_META = "console_session_secret"  # noqa: S105 (the meta key, not a secret)
# A cookie longer than this is not one we wrote.
MAX_COOKIE_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Session:
    key_digest: str
    expires: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Writes and checks session cookies and CSRF tokens for one application."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        configured = ctx.settings.session_secret
        self._secret: bytes | None = (
            None if configured is None else configured.get_secret_value().encode()
        )

    async def secret(self) -> bytes:
        """The configured secret, else one generated once and kept in the database."""
        if self._secret is None:
            kept = await self.ctx.store.put_meta_once(SECRET_META, secrets.token_urlsafe(48))
            self._secret = kept.encode()
        return self._secret

    async def _mac(self, purpose: str, text: str) -> str:
        digest = hmac.new(await self.secret(), f"{purpose}|{text}".encode(), hashlib.sha256)
        return _b64(digest.digest())

    # ---- the session cookie ----------------------------------------------------------

    async def issue(self, response: Response, key_digest: str) -> None:
        expires = int(time.time()) + self.ctx.settings.session_ttl
        payload = _b64(orjson.dumps({"k": key_digest, "e": expires, "n": secrets.token_hex(16)}))
        value = f"{payload}.{await self._mac('session', payload)}"
        self._set(response, SESSION_COOKIE, value, self.ctx.settings.session_ttl)
        response.delete_cookie(LOGIN_COOKIE, path="/")

    def end(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=self.ctx.settings.cookie_secure, httponly=True
        )

    async def read(self, request: Request) -> Session | None:
        """The request's valid, unexpired session, or None."""
        value = request.cookies.get(SESSION_COOKIE, "")
        payload, _, mac = value.partition(".")
        if not payload or not mac or len(value) > MAX_COOKIE_LENGTH:
            return None
        if not hmac.compare_digest(mac, await self._mac("session", payload)):
            return None
        try:
            fields = orjson.loads(_unb64(payload))
            session = Session(str(fields["k"]), int(fields["e"]), str(fields["n"]))
        except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
            return None
        return session if session.expires > time.time() else None

    async def caller(self, session: Session | None) -> Caller | None:
        if session is None:
            return None
        try:
            return await caller_for_digest(self.ctx, session.key_digest)
        except Unauthorized:
            return None

    # ---- CSRF --------------------------------------------------------------------------

    async def csrf_token(self, request: Request, session: Session | None) -> str | None:
        """The token forms must carry: the session's, or before login the login form's."""
        if session is not None:
            return await self._mac("csrf", session.nonce)
        nonce = request.cookies.get(LOGIN_COOKIE)
        if nonce is None or len(nonce) > 64:
            return None
        return await self._mac("login", nonce)

    async def check_csrf(self, request: Request, session: Session | None, sent: str) -> bool:
        expected = await self.csrf_token(request, session)
        return expected is not None and hmac.compare_digest(sent.encode(), expected.encode())

    async def login_token(self, request: Request) -> tuple[str, str | None]:
        """The login form's token, and a fresh nonce to remember when the browser has none
        (see remember_login_nonce)."""
        nonce = request.cookies.get(LOGIN_COOKIE)
        fresh = None
        if nonce is None or len(nonce) > 64:
            nonce = fresh = secrets.token_hex(16)
        return await self._mac("login", nonce), fresh

    def remember_login_nonce(self, response: Response, nonce: str) -> None:
        self._set(response, LOGIN_COOKIE, nonce, LOGIN_COOKIE_SECONDS)

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.ctx.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
