"""The configured `Sender`: console, or a provider's REST client behind the same interface.

Error policy: a provider's "try later" is retryable; a carrier opt-out (`RecipientOptedOut`)
passes through for the worker to mark the phone; an unclear outcome (timeout after sending)
is NOT retried, so a voter never gets a text twice: the worker dead-letters it with the
reason, for staff to check and replay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.pace import ProviderPushback
from bot.sms import ConsoleSender, Sender, SendError
from bot.upstream import Upstreams
from bot.upstream import errors as up

#: Sends one text through an upstream client and gives the provider's message id.
SendThrough = Callable[[Upstreams, str, str, str], Awaitable[str]]


async def _twilio(ups: Upstreams, phone: str, body: str, key: str) -> str:
    return (await ups.twilio.send_sms(phone, body, idempotency_key=key)).sid


async def _telesign(ups: Upstreams, phone: str, body: str, key: str) -> str:
    # The effect id as TeleSign's `external_id`: its delivery report then names our effect,
    # the one way to find a send whose answer never came (`bot.lookup`).
    return (await ups.telesign.send_sms(phone, body, external_id=key,
                                        idempotency_key=key)).reference_id


async def _quorum(ups: Upstreams, phone: str, body: str, key: str) -> str:
    return str((await ups.quorum.send_sms(phone, body, idempotency_key=key)).id)


#: Every provider `SMS_SENDER` may name, besides `console`.
SENDERS: dict[str, SendThrough] = {"twilio": _twilio, "telesign": _telesign, "quorum": _quorum}


class UpstreamSender:
    """Adapts a provider's client to `Sender`, translating its errors to `SendError`."""

    def __init__(self, name: str, upstreams: Upstreams, send: SendThrough) -> None:
        self.name = name
        self.upstreams = upstreams
        self._send = send

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        try:
            return await self._send(self.upstreams, phone, body, idempotency_key)
        except up.RecipientOptedOut:
            raise
        except up.UpstreamRateLimited as exc:
            raise ProviderPushback(str(exc)) from exc
        except up.UpstreamUnavailable as exc:
            raise SendError(str(exc), retryable=True) from exc
        except up.OutcomeUnknown as exc:
            raise SendError(f"outcome unknown, not resent: {exc}", retryable=False) from exc
        except up.UpstreamError as exc:
            raise SendError(str(exc), retryable=False) from exc


def build_sender(settings: Settings, upstreams: Upstreams) -> Sender:
    """The sender `SMS_SENDER` names."""
    if settings.sms_sender == "console":
        return ConsoleSender()
    return UpstreamSender(settings.sms_sender, upstreams, SENDERS[settings.sms_sender])
