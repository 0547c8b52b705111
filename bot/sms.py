"""Sending texts: the `Sender` interface, the console sender, and the guard in front of all.

The guard is the last line of compliance: it refuses any text to an opted-out phone (but the
one STOP confirmation), and any text repeated to one phone too often (a bot talking to an
auto-responder), whatever the engine asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TextIO

import structlog

from bot.metrics import Metrics
from bot.models import SendSms
from bot.phone import mask
from bot.store import SendConsent

log = structlog.get_logger("bot.sms")

LOOP_LIMIT = 20
LOOP_WINDOW = 300


class SendError(Exception):
    """A text could not be sent. `retryable` says whether trying again may help."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Sender(Protocol):
    """Delivers one text; raises `SendError`, or `bot.upstream.errors.RecipientOptedOut` (the
    carrier says the phone opted out, e.g. Twilio 21610: never text it again)."""

    name: str

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        """Send and return the provider's message id."""
        ...


@dataclass
class ConsoleSender:
    """Prints each text with the phone masked: the embedded default."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    name: str = "console"

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        self.stream.write(f"SMS -> {mask(phone)}: {body}\n")
        self.stream.flush()
        return f"console-{idempotency_key}"


@dataclass
class MemorySender:
    """Keeps every text in a list: for tests and the chat simulator."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    name: str = "memory"

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        self.sent.append((phone, body))
        return f"mem-{idempotency_key}"


class Refused(StrEnum):
    """Why the guard held a text back."""

    OPTED_OUT = "opted_out"
    LOOP = "loop"


class GuardedSender:
    """The only way out: checks opt-out and the loop guard, then calls the real sender."""

    def __init__(self, sender: Sender, consent: SendConsent, metrics: Metrics) -> None:
        self.sender = sender
        self.consent = consent
        self.metrics = metrics

    async def send(self, effect: SendSms, *,
                   pacing: Callable[[], AbstractAsyncContextManager[object]] | None = None
                   ) -> Refused | str:
        """Send `effect`, or say why it was refused (a refusal is final, not an error).
        `pacing` is entered after the checks, around the request (the carrier's pace:
        `bot.pace.PaceGate.sending`)."""
        phone = effect.phone
        # One round trip for both checks (opt-out first: a refused text is not counted).
        count = await self.consent.admit_send(phone, effect.body, LOOP_WINDOW,
                                              check_opt_out=not (effect.stop_confirmation
                                                                 or effect.asked_while_out))
        if count is None:
            self.metrics.sends_refused.labels(Refused.OPTED_OUT).inc()
            log.info("send refused", phone=phone, reason="opted out", effect=effect.id)
            return Refused.OPTED_OUT
        if count > LOOP_LIMIT:
            self.metrics.sends_refused.labels(Refused.LOOP).inc()
            log.warning("send refused", phone=phone, reason="loop guard", effect=effect.id,
                        limit=f"{LOOP_LIMIT} in {LOOP_WINDOW}s")
            return Refused.LOOP
        if pacing is None:
            return await self.sender.send(phone, effect.body, idempotency_key=effect.id)
        async with pacing():
            return await self.sender.send(phone, effect.body, idempotency_key=effect.id)
