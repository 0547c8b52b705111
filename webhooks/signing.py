"""Whether the webhooks can tell the provider's requests from anyone else's.

With real provider credentials set (production), an unsigned webhook is an open door:
anyone could post texts that make the bot text any number, send codes and call upstreams,
on the organisation's bill. So the server refuses to start when the provider it uses cannot
be checked, and a provider route whose key is missing refuses every request (403), unless
`ALLOW_UNSIGNED_WEBHOOKS=true` says this is on purpose. With no credentials at all (the
embedded default, a laptop) nothing changes.
"""

from __future__ import annotations

from typing import Literal

from bot.config import SERVICE_SPECS, Settings

Provider = Literal["twilio", "telesign"]


class UnsafeWebhooks(Exception):
    """The configuration would serve webhooks nobody can verify."""


def production(settings: Settings) -> bool:
    """Any provider credential set: this server talks to real accounts."""
    return any(getattr(settings, name) is not None
               for spec in SERVICE_SPECS.values() for name in spec.credentials)


def can_check(settings: Settings, provider: Provider) -> bool:
    """The key that checks this provider's signatures is set."""
    key = settings.twilio_auth_token if provider == "twilio" else settings.telesign_api_key
    return key is not None


def route_closed(settings: Settings, provider: Provider) -> bool:
    """Requests to this provider's routes are refused: production, no key, not allowed."""
    return (production(settings) and not settings.allow_unsigned_webhooks
            and not can_check(settings, provider))


def startup_problems(settings: Settings) -> list[str]:
    """Why the server must not start, one sentence each (empty: it may)."""
    if settings.allow_unsigned_webhooks or not production(settings):
        return []
    why = ("provider credentials are set, so this server is live: without it anyone can post "
           "texts to {path} and make the bot send texts and codes on your account. Set it, or "
           "ALLOW_UNSIGNED_WEBHOOKS=true if that is really intended.")
    problems = []
    twilio_used = settings.sms_sender == "twilio" or settings.twilio_account_sid is not None
    if twilio_used and not can_check(settings, "twilio"):
        problems.append("TWILIO_AUTH_TOKEN is not set: " + why.format(path="/webhooks/twilio/*"))
    telesign_used = (settings.sms_sender == "telesign"
                     or settings.telesign_customer_id is not None)
    if telesign_used and not can_check(settings, "telesign"):
        problems.append("TELESIGN_API_KEY is not set: "
                        + why.format(path="/webhooks/telesign/*"))
    if not problems and not (can_check(settings, "twilio") or can_check(settings, "telesign")):
        problems.append("neither TWILIO_AUTH_TOKEN nor TELESIGN_API_KEY is set: "
                        + why.format(path="/webhooks/*"))
    return problems


def check_startup(settings: Settings) -> None:
    """Raise `UnsafeWebhooks` with every reason when the server must not start."""
    problems = startup_problems(settings)
    if problems:
        raise UnsafeWebhooks("refusing to start: " + " Also: ".join(problems))
