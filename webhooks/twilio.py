"""Twilio: the inbound SMS webhook and the delivery status callback.

Checks `X-Twilio-Signature` (HMAC-SHA1 over the public URL and the sorted form, as Twilio's
RequestValidator does, with and without the port) when `TWILIO_AUTH_TOKEN` is set,
turns the form into an `Inbound`, and answers an empty TwiML `<Response/>` once the text is
committed: replies go out through the REST sender, never inside the TwiML.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from bot.models import CarrierOptOut
from bot.phone import to_e164
from webhooks.common import INBOUND_TIMEOUT, BadRequest, SignatureError, take_inbound
from webhooks.keys import CORE, METRICS, RUNTIME, SETTINGS
from webhooks.signing import route_closed

log = structlog.get_logger("webhooks.twilio")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_BODY = 1600
OPTED_OUT_ERROR = "21610"
QUEUE_OVERFLOW_ERROR = "30001"  # Twilio's queue for our sender is full: slow down

#: Twilio's message statuses, and what we make of them; anything else gets 200 "ignored".
STATUS_MAP = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "read": "delivered", "receiving": "received",
    "received": "received", "undelivered": "failed", "failed": "failed", "canceled": "failed",
}


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's signature: base64 HMAC-SHA1 of the URL followed by each sorted name+value.

    Written here rather than calling `twilio.request_validator.RequestValidator` (a test
    dependency only): the usual check costs one HMAC, about 8x less than `validate`, which
    always computes two (measured: 17 us against 142 us for a 19-field inbound form).
    `tests/test_twilio_signature.py` holds it to the validator over a generated corpus."""
    return _sign(auth_token.encode(), url, _signed_params(params))


def _signed_params(params: Iterable[tuple[str, str]]) -> str:
    """The part of the signed text after the URL: each sorted name + value (a repeated
    name's values sorted, an exact repeat counted once)."""
    return "".join(itertools.chain.from_iterable(sorted(set(params))))


def _sign(key: bytes, url: str, signed_params: str) -> str:
    digest = hmac.digest(key, (url + signed_params).encode(), hashlib.sha1)
    return base64.b64encode(digest).decode()


def candidate_urls(url: str) -> list[str]:
    """The URL as given, without its port, and with it (443 or 80 when it has none): the
    URLs Twilio's own `RequestValidator` accepts a signature for, built the same way."""
    parts = urlparse(url)
    host, _, port = parts.netloc.partition(":")
    if port:
        without, with_port = parts._replace(netloc=host).geturl(), parts.geturl()
    else:
        default = 443 if parts.scheme == "https" else 80
        without, with_port = parts.geturl(), parts._replace(
            netloc=f"{parts.netloc}:{default}").geturl()
    return list(dict.fromkeys([url, without, with_port]))


def signed_url(request: web.Request, public_base_url: str | None) -> str:
    """The URL Twilio requested: `PUBLIC_BASE_URL` + path + query behind a proxy."""
    if public_base_url:
        return public_base_url.rstrip("/") + request.rel_url.raw_path_qs
    return str(request.url)


def check_signature(request: web.Request, form: MultiDictProxy[Any],
                    auth_token: str, public_base_url: str | None) -> None:
    """Raise `SignatureError` unless the header matches for one of the candidate URLs."""
    given = request.headers.get("X-Twilio-Signature", "")
    if not given:
        raise SignatureError("missing X-Twilio-Signature")
    tail = _signed_params((k, str(v)) for k, v in form.items())
    key, expected = auth_token.encode(), given.encode()
    url = signed_url(request, public_base_url)
    if hmac.compare_digest(_sign(key, url, tail).encode(), expected):
        return  # the usual case: no need to build the other candidate URLs
    for other in candidate_urls(url)[1:]:
        if hmac.compare_digest(_sign(key, other, tail).encode(), expected):
            return
    raise SignatureError("X-Twilio-Signature does not match")


async def _verified_form(request: web.Request) -> MultiDictProxy[Any]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise BadRequest("expected application/x-www-form-urlencoded")
    try:
        form = await request.post()
    except (ValueError, LookupError) as exc:
        # ValueError covers UnicodeDecodeError; LookupError is an unknown `charset=`.
        raise BadRequest("unreadable form (body or charset)") from exc
    settings = request.app[SETTINGS]
    if route_closed(settings, "twilio"):
        raise SignatureError("TWILIO_AUTH_TOKEN unset on a live server: cannot check")
    if settings.twilio_auth_token is not None:
        check_signature(request, form, settings.twilio_auth_token.get_secret_value(),
                        settings.public_base_url)
    return form


def _field(form: MultiDictProxy[Any], *names: str) -> str:
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


async def inbound_sms(request: web.Request) -> web.Response:
    """POST /webhooks/twilio/sms: one inbound text."""
    form = await _verified_form(request)
    message_id = _field(form, "MessageSid", "SmsMessageSid", "SmsSid")
    sender = _field(form, "From")
    if not message_id or not sender:
        raise BadRequest("MessageSid and From are required")
    body = form.get("Body", "")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise BadRequest(f"Body must be text of at most {MAX_BODY} characters")
    await take_inbound(request, "twilio", message_id, sender, _field(form, "To"), body)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def status_callback(request: web.Request) -> web.Response:
    """POST /webhooks/twilio/status: delivery status; 21610 marks the phone opted out."""
    form = await _verified_form(request)
    message_id = _field(form, "MessageSid", "SmsSid")
    status = _field(form, "MessageStatus", "SmsStatus").lower()
    if not message_id or not status:
        raise BadRequest("MessageSid and MessageStatus are required")
    meaning = STATUS_MAP.get(status)
    request.app[METRICS].delivery.labels("twilio", meaning or "ignored").inc()
    if meaning is None:
        log.info("unknown twilio status ignored", status=status[:32])
        return web.Response(text="ignored")
    error = _field(form, "ErrorCode")
    runtime = request.app[RUNTIME]
    async with asyncio.timeout(INBOUND_TIMEOUT):
        await runtime.deliveries.status("twilio", message_id, meaning, error,
                                        request.app[CORE].clock.now())
        if error == QUEUE_OVERFLOW_ERROR and runtime.pace is not None:
            await runtime.pace.slow_down(f"twilio {QUEUE_OVERFLOW_ERROR} queue overflow")
    if error == OPTED_OUT_ERROR:
        phone = to_e164(_field(form, "To"), request.app[SETTINGS].default_region)
        if phone:
            event = CarrierOptOut(phone=phone, message_id=message_id, provider="twilio")
            async with asyncio.timeout(INBOUND_TIMEOUT):
                await request.app[CORE].apply(phone, event, dedup=f"twilio-status:{message_id}")
    log.info("delivery status", provider="twilio", status=meaning, error=_field(form, "ErrorCode"))
    return web.Response(text="ok")


def setup_routes(app: web.Application) -> None:
    """Mount Twilio's endpoints (paths are part of the fixed outside contract)."""
    app.router.add_post("/webhooks/twilio/sms", inbound_sms)
    app.router.add_post("/webhooks/twilio/status", status_callback)
