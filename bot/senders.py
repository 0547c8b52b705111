"""The configured `Sender`: console, or a provider's REST client behind the same interface.

Error policy: a provider's "try later" is retryable; a carrier opt-out marks the phone; an
unclear outcome (timeout after sending) is NOT retried, so a voter never gets a text twice:
the worker dead-letters it with the reason, for staff to check and replay.
"""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.pace import ProviderPushback
from bot.sms import ConsoleSender, RecipientOptedOut, Sender, SendError
from bot.upstream import Upstreams
from bot.upstream import errors as up


class UpstreamSender:
    """Adapts a client with `send_sms(phone, body, idempotency_key=)` to `Sender`."""

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        try:
            sent = await self.client.send_sms(phone, body, idempotency_key=idempotency_key)
        except up.RecipientOptedOut as exc:
            raise RecipientOptedOut(str(exc)) from exc
        except up.UpstreamRateLimited as exc:
            raise ProviderPushback(str(exc)) from exc
        except up.UpstreamUnavailable as exc:
            raise SendError(str(exc), retryable=True) from exc
        except up.OutcomeUnknown as exc:
            raise SendError(f"outcome unknown, not resent: {exc}", retryable=False) from exc
        except up.UpstreamError as exc:
            raise SendError(str(exc), retryable=False) from exc
        for attr in ("sid", "reference_id", "id"):
            value = getattr(sent, attr, None)
            if value:
                return str(value)
        return idempotency_key


def build_sender(settings: Settings, upstreams: Upstreams) -> Sender:
    """The sender `SMS_SENDER` names."""
    if settings.sms_sender == "console":
        return ConsoleSender()
    client = getattr(upstreams, settings.sms_sender)
    return UpstreamSender(settings.sms_sender, client)
