"""One async HTTP client per upstream service, and the factory that builds them all.

`build_upstreams(settings, session, sandbox_root)` gives every client the process's shared
session. A service without credentials uses the fixed sandbox credentials
(`bot.sandbox.credentials`) against `settings.api_base(...)`, which is the built-in sandbox
unless its `*_API_BASE` is set. WhatCounts is None when it has credentials but no
`WHATCOUNTS_API_BASE` (it has no public URL) or no `WHATCOUNTS_SENDER_CODE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from bot.config import Service, Settings
from bot.sandbox import credentials as sandbox
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
from bot.upstream.wevote import WeVoteClient
from bot.upstream.whatcounts import WhatCountsClient

__all__ = [
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
    modes: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        """Each service's mode: "sandbox", its base URL, or why it is disabled."""
        return dict(self.modes)


def _secret(value: object) -> str:
    """The plain text of a pydantic `SecretStr` (or a plain string)."""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)


def _cred(settings: Settings, service: Service, value: object, fallback: str) -> str:
    """The configured credential when the service has all of its own, else the sandbox's."""
    if settings.has_credentials(service) and value is not None:
        return _secret(value)
    return fallback


def build_upstreams(
    settings: Settings, session: aiohttp.ClientSession, sandbox_root: str
) -> Upstreams:
    """Build every client from settings; see the module docstring for the rules."""
    s, timeout = settings, settings.upstream_timeout

    def base(service: Service) -> str:
        """The service's base URL (explicit, public, or the sandbox)."""
        return settings.api_base(service, sandbox_root)

    sandboxed_twilio = not s.has_credentials("twilio")
    twilio = TwilioClient(
        session,
        base("twilio"),
        _cred(s, "twilio", s.twilio_account_sid, sandbox.TWILIO_ACCOUNT_SID),
        _cred(s, "twilio", s.twilio_auth_token, sandbox.TWILIO_AUTH_TOKEN),
        s.sms_from or (sandbox.TWILIO_FROM if sandboxed_twilio else None),
        timeout=timeout,
    )
    telesign = TeleSignClient(
        session,
        base("telesign"),
        _cred(s, "telesign", s.telesign_customer_id, sandbox.TELESIGN_CUSTOMER_ID),
        _cred(s, "telesign", s.telesign_api_key, sandbox.TELESIGN_API_KEY),
        timeout=timeout,
    )
    p2a = Phone2ActionClient(
        session,
        base("p2a"),
        _cred(s, "p2a", s.p2a_app_id, sandbox.P2A_APP_ID),
        _cred(s, "p2a", s.p2a_app_key, sandbox.P2A_APP_KEY),
        timeout=timeout,
    )
    wevote = WeVoteClient(
        session,
        base("wevote"),
        _cred(s, "wevote", s.wevote_api_key, sandbox.WEVOTE_API_KEY),
        timeout=timeout,
    )
    quorum = QuorumClient(
        session,
        base("quorum"),
        _cred(s, "quorum", s.quorum_username, sandbox.QUORUM_USERNAME),
        _cred(s, "quorum", s.quorum_api_key, sandbox.QUORUM_API_KEY),
        timeout=timeout,
    )
    whatcounts, wc_mode = _whatcounts(settings, session, sandbox_root)
    modes: dict[str, str] = {name: _mode(settings, name, base(name)) for name in _SERVICES}
    modes["whatcounts"] = wc_mode
    return Upstreams(twilio, telesign, p2a, wevote, whatcounts, quorum, modes)


_SERVICES: tuple[Service, ...] = ("twilio", "telesign", "p2a", "wevote", "whatcounts", "quorum")


def _mode(settings: Settings, service: Service, base: str) -> str:
    return "sandbox" if settings.uses_sandbox(service) else base


def _whatcounts(
    settings: Settings, session: aiohttp.ClientSession, sandbox_root: str
) -> tuple[WhatCountsClient | None, str]:
    """The WhatCounts client and its mode; None when real credentials lack a site or code."""
    s = settings
    if s.has_credentials("whatcounts"):
        if s.explicit_base("whatcounts") is None:
            return None, "disabled: WHATCOUNTS_API_BASE is not set"
        if not s.whatcounts_sender_code:
            return None, "disabled: WHATCOUNTS_SENDER_CODE is not set"
        realm = _cred(s, "whatcounts", s.whatcounts_user, "")
        password = _cred(s, "whatcounts", s.whatcounts_password, "")
        code, group = s.whatcounts_sender_code, s.whatcounts_group
    else:
        realm, password = sandbox.WHATCOUNTS_REALM, sandbox.WHATCOUNTS_PASSWORD
        code = s.whatcounts_sender_code or sandbox.WHATCOUNTS_SENDER_CODE
        group = s.whatcounts_group or sandbox.WHATCOUNTS_GROUP
    base = s.api_base("whatcounts", sandbox_root)
    client = WhatCountsClient(
        session, base, realm, password, code, group=group, timeout=s.upstream_timeout
    )
    return client, _mode(s, "whatcounts", base)
