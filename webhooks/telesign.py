"""TeleSign: inbound SMS (MO) and delivery / verify status callbacks, both JSON.

The body signature (`Authorization: TSA {customer_id}:{signature}`, HMAC-SHA256 of the raw
body with the base64-decoded API key; `telesign_callbacks`) is checked whenever
`TELESIGN_API_KEY` is set. TeleSign
may send either kind of callback to either URL, so both routes read both kinds.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from bot.store.delivery import ExternalIds
from webhooks.common import INBOUND_TIMEOUT, BadRequest, SignatureError, take_inbound
from webhooks.keys import CORE, METRICS, RUNTIME, SETTINGS
from webhooks.signing import route_closed
from webhooks.telesign_callbacks import (
    DeliveryReport,
    InboundSms,
    parse_callback,
    verify_callback_signature,
)

log = structlog.get_logger("webhooks.telesign")

#: TeleSign outcomes as delivery statuses (`unknown`: final but not known, not counted).
DELIVERY_STATUS = {"delivered": "delivered", "failed": "failed", "in_progress": "sent",
                   "retryable": "sent", "unknown": "unknown"}

MAX_BODY_BYTES = 16 * 1024


async def _verified_callback(request: web.Request) -> DeliveryReport | InboundSms:
    raw = await request.read()
    if not raw or len(raw) > MAX_BODY_BYTES:
        raise BadRequest("expected a JSON body")
    settings = request.app[SETTINGS]
    if route_closed(settings, "telesign"):
        raise SignatureError("TELESIGN_API_KEY unset on a live server: cannot check")
    if settings.telesign_api_key is not None:
        header = request.headers.get("Authorization") or request.headers.get("X-TS-Authorization")
        if not verify_callback_signature(settings.telesign_api_key.get_secret_value(), header,
                                         raw, customer_id=settings.telesign_customer_id):
            raise SignatureError("TeleSign callback signature does not match")
    return parse_callback(raw)


async def _handle(request: web.Request) -> web.Response:
    callback = await _verified_callback(request)
    if isinstance(callback, InboundSms):
        user = callback.user_response
        await take_inbound(request, "telesign", callback.reference_id, user.phone_e164,
                           user.sender_id or "", user.mo_message)
        return web.json_response({"status": "received"})
    outcome = str(getattr(callback, "outcome", "unknown"))
    request.app[METRICS].delivery.labels("telesign", outcome).inc()
    code = callback.status.code if callback.status else None
    runtime = request.app[RUNTIME]
    async with asyncio.timeout(INBOUND_TIMEOUT):
        await runtime.deliveries.status(
            "telesign", callback.reference_id, DELIVERY_STATUS.get(outcome, "unknown"),
            "" if code is None else str(code), request.app[CORE].clock.now())
        if callback.external_id:  # our effect id: how an unanswered send is found later
            await ExternalIds(runtime.redis, runtime.keys).remember(
                "telesign", callback.external_id, callback.reference_id)
    log.info("delivery status", provider="telesign", status=outcome, code=code)
    return web.json_response({"status": "ok"})


async def inbound_sms(request: web.Request) -> web.Response:
    """POST /webhooks/telesign/sms."""
    return await _handle(request)


async def status_callback(request: web.Request) -> web.Response:
    """POST /webhooks/telesign/status."""
    return await _handle(request)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/telesign/sms", inbound_sms)
    app.router.add_post("/webhooks/telesign/status", status_callback)
