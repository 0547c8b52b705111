"""One async HTTP client per upstream service, and the factory that builds them all.

`build_upstreams(settings, session, sandbox_root)` gives every client the process's shared
session. For each service of `bot.config.SERVICES` it resolves the base URL
(`settings.api_base`: explicit, public with credentials, else the built-in sandbox) and the
credentials (`settings.credential`: the service's own, else the sandbox's defaults). WhatCounts
is None when it has credentials but no `WHATCOUNTS_API_BASE` (it has no public URL) or no
`WHATCOUNTS_SENDER_CODE`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
import structlog

from bot.config import SANDBOX_DEFAULTS, SERVICES, Service, Settings
from bot.upstream.base import ApiClient
from bot.upstream.breaker import BreakerState, CircuitBreaker, CircuitOpen
from bot.upstream.errors import (
    OutcomeUnknown,
    RecipientOptedOut,
    UnexpectedAnswer,
    UnsupportedPhone,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.upstream.phone2action import Phone2ActionClient
from bot.upstream.quorum import QuorumClient
from bot.upstream.telesign import TeleSignClient
from bot.upstream.twilio import TwilioClient
from bot.upstream.webhook import WebhookClient
from bot.upstream.wevote import WeVoteClient
from bot.upstream.whatcounts import WhatCountsClient

log = structlog.get_logger("bot.upstream")

__all__ = [
    "CircuitOpen",
    "OutcomeUnknown",
    "Phone2ActionClient",
    "QuorumClient",
    "RecipientOptedOut",
    "TeleSignClient",
    "TwilioClient",
    "UnexpectedAnswer",
    "UnsupportedPhone",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamUnavailable",
    "Upstreams",
    "WeVoteClient",
    "WhatCountsClient",
    "build_upstreams",
]


@dataclass(frozen=True)
class Upstreams:
    """Every upstream client of the process (all sharing one `ClientSession`)."""

    twilio: TwilioClient
    telesign: TeleSignClient
    p2a: Phone2ActionClient
    wevote: WeVoteClient
    whatcounts: WhatCountsClient | None
    quorum: QuorumClient
    webhook: WebhookClient
    modes: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        """Each service's mode: "sandbox", its base URL, or why it is disabled."""
        return dict(self.modes)


@dataclass(frozen=True)
class _Setup:
    """What building one service's client needs: its base URL and its credentials."""

    settings: Settings
    session: aiohttp.ClientSession
    service: Service
    base: str

    def cred(self, name: str) -> str:
        """The service's own credential `name`, else the sandbox's default."""
        return self.settings.credential(self.service, name)

    @property
    def timeout(self) -> float:
        return self.settings.upstream_timeout


BreakerWatch = Callable[[str, BreakerState], None]


def build_upstreams(
    settings: Settings, session: aiohttp.ClientSession, sandbox_root: str,
    on_breaker: BreakerWatch | None = None, breaker_clock: Callable[[], float] = time.monotonic,
) -> Upstreams:
    """Build every client from settings; see the module docstring for the rules. Each
    service gets one circuit breaker (`on_breaker` hears it open and close; its cool-down
    runs on `breaker_clock`, the runtime's clock, so a test moves it without sleeping)."""
    setups = {name: _Setup(settings, session, name, settings.api_base(name, sandbox_root))
              for name in SERVICES}
    modes: dict[str, str] = {
        name: "sandbox" if settings.uses_sandbox(name) else setup.base
        for name, setup in setups.items()
    }
    whatcounts, disabled = _whatcounts(setups["whatcounts"])
    if disabled:
        modes["whatcounts"] = disabled
    upstreams = Upstreams(
        twilio=_twilio(setups["twilio"]),
        telesign=_build(setups["telesign"], TeleSignClient, "customer_id", "api_key"),
        p2a=_build(setups["p2a"], Phone2ActionClient, "app_id", "app_key"),
        wevote=_build(setups["wevote"], WeVoteClient, "api_key"),
        whatcounts=whatcounts,
        quorum=_build(setups["quorum"], QuorumClient, "username", "api_key"),
        webhook=_webhook(settings, session, sandbox_root),
        modes=modes,
    )
    for client in (upstreams.twilio, upstreams.telesign, upstreams.p2a, upstreams.wevote,
                   upstreams.whatcounts, upstreams.quorum):
        if client is not None:
            client.breaker = CircuitBreaker(
                client.service, threshold=settings.upstream_breaker_failures,
                cooldown=settings.upstream_breaker_seconds, clock=breaker_clock,
                on_change=on_breaker)
    return upstreams


DEV_WEBHOOK_SECRET = b"civictext-development-webhook-key"


def _webhook(settings: Settings, session: aiohttp.ClientSession,
             sandbox_root: str) -> WebhookClient:
    """Staff webhooks, signed with WEBHOOK_SECRET (a development key, with a warning, when
    unset: a receiver must not trust that one). On the embedded default (no WEBHOOK_TARGETS,
    every service on its sandbox) each target a flow names goes to the sandbox's staff
    receiver, so a flow with a `webhook` action runs end to end there too; a configured
    deployment never falls back: a target it does not name is `not_configured`."""
    secret = settings.webhook_secret
    if secret is None and settings.webhook_targets:
        log.warning("WEBHOOK_SECRET is not set: webhooks are signed with a development key")
    key = secret.get_secret_value().encode() if secret is not None else DEV_WEBHOOK_SECRET
    embedded = settings.stand_in_webhooks()
    return WebhookClient(session, settings.webhook_targets, key,
                         timeout=settings.webhook_timeout,
                         fallback_base=f"{sandbox_root.rstrip('/')}/staff" if embedded else None)


C = TypeVar("C", bound=ApiClient)


def _build(setup: _Setup, client: Callable[..., C], *credentials: str) -> C:
    """`client(session, base, *credentials, timeout=)`: the shape of most clients."""
    return client(setup.session, setup.base, *(setup.cred(name) for name in credentials),
                  timeout=setup.timeout)


def _twilio(setup: _Setup) -> TwilioClient:
    """Twilio sends from `SMS_FROM`; against the sandbox, from its magic valid number."""
    sender = setup.settings.sms_from
    if not sender and not setup.settings.has_credentials("twilio"):
        sender = SANDBOX_DEFAULTS["twilio_from"]
    return TwilioClient(setup.session, setup.base, setup.cred("account_sid"),
                        setup.cred("auth_token"), sender, timeout=setup.timeout)


def _whatcounts(setup: _Setup) -> tuple[WhatCountsClient | None, str | None]:
    """The WhatCounts client, or None and why: real credentials need a site and a code."""
    s = setup.settings
    code, group = s.whatcounts_sender_code, s.whatcounts_group
    if s.has_credentials("whatcounts"):
        if s.explicit_base("whatcounts") is None:
            return None, "disabled: WHATCOUNTS_API_BASE is not set"
        if not code:
            return None, "disabled: WHATCOUNTS_SENDER_CODE is not set"
    else:
        code = code or SANDBOX_DEFAULTS["whatcounts_sender_code"]
        group = group or SANDBOX_DEFAULTS["whatcounts_group"]
    client = WhatCountsClient(setup.session, setup.base, setup.cred("user"),
                              setup.cred("password"), code, group=group, timeout=setup.timeout)
    return client, None
