"""A sender that records each accepted text in the delivery ledger (for status callbacks).

Recording happens after the provider accepted the text; a failure to record is logged and
swallowed, because raising would make the worker send the text again.
"""

from __future__ import annotations

import structlog

from bot.clock import Clock
from bot.sms import Sender
from bot.store.delivery import DeliveryLedger

log = structlog.get_logger("bot.tracking")


class TrackedSender:
    """Wraps the configured `Sender`; same interface."""

    def __init__(self, inner: Sender, ledger: DeliveryLedger, clock: Clock) -> None:
        self.inner = inner
        self.ledger = ledger
        self.clock = clock
        self.name = inner.name

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        message_id = await self.inner.send(phone, body, idempotency_key=idempotency_key)
        try:
            await self.ledger.sent(self.name, message_id, phone, idempotency_key,
                                   self.clock.now())
        except Exception as exc:  # noqa: BLE001 - the text went out: never resend for this
            log.warning("delivery not recorded", phone=phone, error=repr(exc)[:200])
        return message_id
