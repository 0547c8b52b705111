"""Console sessions: a login form, a signed session cookie, and CSRF tokens on every form.

The session cookie is `<payload>.<HMAC-SHA256>` (payload: a random session id and an
expiry), signed with ADMIN_SECRET, or a key derived from ADMIN_PASSWORD when that is unset
(so changing the password ends every session). Each form carries a CSRF token derived
from the session id; the login form, before any session, uses a double-submit cookie.
Cookies are HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from aiohttp import web

from bot.config import Settings

SESSION_COOKIE = "ct_admin"
LOGIN_COOKIE = "ct_login"
SESSION_SECONDS = 12 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Auth:
    """Signs and checks sessions and CSRF tokens for one console."""

    def __init__(self, settings: Settings) -> None:
        assert settings.admin_password is not None
        self.password = settings.admin_password.get_secret_value()
        secret = (settings.admin_secret.get_secret_value() if settings.admin_secret
                  else "civictext-admin|" + self.password)
        self.key = hashlib.sha256(secret.encode()).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.digest(self.key, payload.encode(), hashlib.sha256))

    def password_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.password.encode())

    def new_session(self, now: float | None = None) -> str:
        """A fresh signed cookie value."""
        body = {"sid": secrets.token_hex(12),
                "exp": int((now or time.time()) + SESSION_SECONDS)}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def session_id(self, cookie: str | None, now: float | None = None) -> str | None:
        """The session id of a valid, unexpired cookie, else None."""
        if not cookie or "." not in cookie:
            return None
        payload, _, signature = cookie.partition(".")
        if not hmac.compare_digest(self._sign(payload).encode(), signature.encode()):
            return None
        try:
            body = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("exp", 0) < (now or time.time()):
            return None
        sid = body.get("sid")
        return sid if isinstance(sid, str) else None

    def csrf_token(self, sid: str) -> str:
        return self._sign("csrf|" + sid)[:32]

    def csrf_ok(self, sid: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf_token(sid).encode(), given.encode())


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
               max_age: int, *, https: bool = False) -> None:
    """A console cookie; `Secure` when the request came over HTTPS, or the deployment's
    public URL is HTTPS (a proxy in front ends TLS, so this process sees plain HTTP)."""
    response.set_cookie(name, value, max_age=max_age, path="/admin", httponly=True,
                        samesite="Strict", secure=request.secure or https)
