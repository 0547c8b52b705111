"""The embedded default: the web app, plus the sandboxes on the same server when a service
has no credentials of its own (DESIGN.md: `python -m bot serve` with no configuration runs
the whole product on one machine).

The one place production mounts the sandboxes: `webhooks` and `bot.upstream` never import
them, so a configured deployment loads no sandbox code at all.
"""

from __future__ import annotations

from aiohttp import web

from bot.config import SERVICES, Settings
from webhooks.app import RuntimeFactory, create_app


def needs_sandbox(settings: Settings) -> bool:
    """True when some service talks to the built-in sandbox (`/sandbox/<service>`)."""
    return any(settings.uses_sandbox(service) for service in SERVICES)


def create_embedded_app(settings: Settings, *,
                        runtime_factory: RuntimeFactory | None = None) -> web.Application:
    """`create_app`, with the sandboxes mounted at `/sandbox` when any service uses them."""
    app = create_app(settings, runtime_factory=runtime_factory)
    if needs_sandbox(settings):
        # Imported here only: a configured server never loads the sandbox code.
        from bot.sandbox import mount_sandbox  # noqa: PLC0415

        mount_sandbox(app)
    return app
