"""Local stand-ins for every upstream service, speaking each one's documented HTTP contract.

`create_sandbox_app()` mounts one sub-app per service (`/twilio`, `/telesign`, `/p2a`,
`/wevote`, `/whatcounts`, `/quorum`; and `/staff`, a receiver for staff webhooks). Tests
serve it on 127.0.0.1; the embedded default
(`bot.embedded`) mounts it under `/sandbox` with `mount_sandbox` when a service has no
credentials, so every action still goes through the real client and real HTTP.
`app[SANDBOX]` holds the call log and each service's state (`app[MOUNTED]` on the parent).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bot.config import SANDBOX_PREFIX
from bot.sandbox import p2a, quorum, staff, telesign, twilio, wevote, whatcounts
from bot.sandbox.common import CallLog, RecordedRequest, ServiceState
from bot.sandbox.p2a import P2AState
from bot.sandbox.quorum import QuorumState
from bot.sandbox.staff import StaffState
from bot.sandbox.telesign import TeleSignState
from bot.sandbox.twilio import TwilioState
from bot.sandbox.wevote import WeVoteState
from bot.sandbox.whatcounts import WhatCountsState

__all__ = [
    "MOUNTED",
    "SANDBOX",
    "CallLog",
    "RecordedRequest",
    "Sandbox",
    "ServiceState",
    "create_sandbox_app",
    "mount_sandbox",
]


@dataclass(frozen=True)
class Sandbox:
    """The call log and every service's in-memory state, for tests to read and steer
    (e.g. `sandbox.p2a.fail_next["POST /advocates"] = [503]`)."""

    log: CallLog
    twilio: TwilioState = field(default_factory=TwilioState)
    telesign: TeleSignState = field(default_factory=TeleSignState)
    p2a: P2AState = field(default_factory=P2AState)
    wevote: WeVoteState = field(default_factory=WeVoteState)
    whatcounts: WhatCountsState = field(default_factory=WhatCountsState)
    quorum: QuorumState = field(default_factory=QuorumState)
    staff: StaffState = field(default_factory=StaffState)  # WEBHOOK_TARGETS' receivers

    def service(self, name: str) -> ServiceState:
        """A service's state by name."""
        state: ServiceState = getattr(self, name)
        return state


SANDBOX = web.AppKey("sandbox", Sandbox)
#: The sandbox state on the app the sandboxes were mounted into (see `mount_sandbox`).
MOUNTED = web.AppKey("mounted_sandbox", Sandbox)


def create_sandbox_app(*, delay: float = 0.0, log: CallLog | None = None) -> web.Application:
    """The root sandbox app; `delay` (seconds) makes every answer wait, like a slow network."""
    sandbox = Sandbox(log=log if log is not None else CallLog())
    app = web.Application()
    app[SANDBOX] = sandbox
    app.add_subapp("/twilio", twilio.create_app(sandbox.twilio, sandbox.log, delay))
    app.add_subapp("/telesign", telesign.create_app(sandbox.telesign, sandbox.log, delay))
    app.add_subapp("/p2a", p2a.create_app(sandbox.p2a, sandbox.log, delay))
    app.add_subapp("/wevote", wevote.create_app(sandbox.wevote, sandbox.log, delay))
    app.add_subapp("/whatcounts", whatcounts.create_app(sandbox.whatcounts, sandbox.log, delay))
    app.add_subapp("/quorum", quorum.create_app(sandbox.quorum, sandbox.log, delay))
    app.add_subapp("/staff", staff.create_app(sandbox.staff, sandbox.log, delay))
    return app


def mount_sandbox(app: web.Application) -> Sandbox:
    """Serve every sandbox under `/sandbox/<service>` of `app` (the embedded default)."""
    sandbox_app = create_sandbox_app()
    app[MOUNTED] = sandbox_app[SANDBOX]
    app.add_subapp(SANDBOX_PREFIX, sandbox_app)
    return sandbox_app[SANDBOX]
