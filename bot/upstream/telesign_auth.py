"""TeleSign authentication (REFERENCE 5.7 and 5.8), exact to the official SDK.

REST calls carry `Authorization: TSA {customer_id}:{signature}`, an HMAC-SHA256 (key: the
base64-decoded API key) over the string-to-sign; Date and nonce are new on every attempt and
the signed body is the exact byte string sent. (The callbacks TeleSign sends us, which sign
only the body, are checked in `webhooks/telesign_callbacks.py`.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from email.utils import formatdate

AUTH_METHOD = "HMAC-SHA256"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def string_to_sign(
    method: str, *, content_type: str, date: str, nonce: str, body: str, resource: str
) -> str:
    """The canonical string TeleSign signs: no query string, body only when both are set."""
    lines = [method, content_type, date, f"x-ts-auth-method:{AUTH_METHOD}", f"x-ts-nonce:{nonce}"]
    if content_type and body:
        lines.append(body)
    lines.append(resource)
    return "\n".join(lines)


def hmac_b64(api_key: str, message: str) -> str:
    """base64(HMAC-SHA256(base64_decode(api_key), utf8(message)))."""
    digest = hmac.new(base64.b64decode(api_key), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def rest_headers(
    customer_id: str,
    api_key: str,
    method: str,
    resource: str,
    body: str = "",
    *,
    date: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The five auth headers for one attempt (fresh Date and nonce unless given, for tests).

    `resource` is the path after the base URL (e.g. `/v1/verify/sms`); `body` is the exact
    url-encoded string that will be sent.
    """
    date = date or formatdate(usegmt=True)
    nonce = nonce or str(uuid.uuid4())
    content_type = FORM_CONTENT_TYPE if method in ("POST", "PUT") else ""
    text = string_to_sign(
        method, content_type=content_type, date=date, nonce=nonce, body=body, resource=resource
    )
    signature = hmac_b64(api_key, text)
    return {
        "Authorization": f"TSA {customer_id}:{signature}",
        "Date": date,
        "Content-Type": content_type,
        "x-ts-auth-method": AUTH_METHOD,
        "x-ts-nonce": nonce,
    }
