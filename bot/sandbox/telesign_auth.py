"""The TeleSign sandbox's check of REST authentication, written apart from the client's
signer (so one cannot hide a bug in the other): `TSA` HMAC-SHA256 or Basic, Date within 15
minutes, a fresh nonce, and the signature over the body bytes exactly as received."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime

from aiohttp import web

from bot.sandbox import credentials as cred
from bot.sandbox.common import basic_auth, relative

SKEW_SECONDS = 15 * 60


def answer(http: int, code: int, description: str, status: int = 501,
           **extra: object) -> web.Response:  # fmt: skip
    """TeleSign's shared answer shape carrying one error."""
    body: dict[str, object] = {
        "reference_id": None,
        "status": {"code": status, "description": "Not authorized" if status == 501
                   else "Transaction not attempted", "updated_on": formatdate(usegmt=True)},
        "errors": [{"code": code, "description": description}],
    }  # fmt: skip
    return web.json_response(body | extra, status=http)


def expected_signature(request: web.Request, raw: bytes, date: str, nonce: str) -> tuple[str, str]:
    """(signature, string_to_sign) for a request as the sandbox received it."""
    content_type = request.headers.get("Content-Type", "")
    resource = relative(request.raw_path.split("?", 1)[0], "telesign").removeprefix("/telesign")
    parts = [request.method, content_type, date, "x-ts-auth-method:HMAC-SHA256",
             f"x-ts-nonce:{nonce}"]  # fmt: skip
    if content_type and raw:
        parts.append(raw.decode("utf-8"))
    parts.append(resource)
    text = "\n".join(parts)
    key = base64.b64decode(cred.TELESIGN_API_KEY)
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii"), text


def check(request: web.Request, raw: bytes, seen_nonces: set[str]) -> web.Response | None:
    """None when the request is authentic, else TeleSign's 401 answer."""
    header = request.headers.get("Authorization", "")
    if not header:
        return answer(401, -30004, "Missing required 'Authorization' header")
    if header.startswith("Basic "):
        ok = basic_auth(request) == (cred.TELESIGN_CUSTOMER_ID, cred.TELESIGN_API_KEY)
        return None if ok else answer(401, -30015, "Invalid API Key.")
    customer, sep, signature = header.removeprefix("TSA ").partition(":")
    if not header.startswith("TSA ") or not sep:
        return answer(401, -30005, "Required 'Authorization' header is not in the correct format")
    if customer != cred.TELESIGN_CUSTOMER_ID:
        return answer(401, -30000, "Invalid Customer ID.")
    if request.headers.get("x-ts-auth-method") != "HMAC-SHA256":
        return answer(401, -30008, "Invalid 'x-ts-auth-method' header.", status=500)
    date = request.headers.get("Date") or request.headers.get("x-ts-date")
    if not date:
        return answer(401, -30007, "Missing required 'Date' or 'x-ts-date' header")
    try:
        sent = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return answer(401, -30009, "'Date' or 'x-ts-date' header is not RFC822 compliant")
    if sent.tzinfo is None or abs((datetime.now(UTC) - sent).total_seconds()) > SKEW_SECONDS:
        return answer(401, -30010, "'Date' or 'x-ts-date' header is not within tolerable range")
    nonce = request.headers.get("x-ts-nonce", "")
    if not 8 <= len(nonce) <= 64:
        return answer(401, -30011, "'x-ts-nonce' header value is either too long or too short")
    if nonce in seen_nonces:
        return answer(401, -30012, "'x-ts-nonce' header value has been used recently")
    wanted, text = expected_signature(request, raw, date, nonce)
    if not hmac.compare_digest(signature.encode(), wanted.encode()):
        return answer(401, -30006, "Invalid Signature", signature_string=text)
    seen_nonces.add(nonce)
    return None
