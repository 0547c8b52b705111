"""What every console view shares: the `Console` (auth keys, templates, the runtime's
key) kept on the app, page rendering with safe headers, and the staff-only guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jinja2
import structlog
from aiohttp import web

from bot.admin.auth import SESSION_COOKIE, Auth
from bot.phone import mask
from bot.runtime import Runtime
from bot.store.ledger import iso

log = structlog.get_logger("bot.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Console:
    """What every console view needs: the auth keys and the templates."""

    auth: Auth
    templates: jinja2.Environment
    runtime_key: web.AppKey[Any]  # where the app keeps its `bot.runtime.Runtime`
    https: bool = False  # PUBLIC_BASE_URL is https: cookies are Secure behind the proxy

    def runtime(self, request: web.Request) -> Runtime:
        runtime: Runtime = request.app[self.runtime_key]
        return runtime

    def page(self, request: web.Request, template: str, **values: Any) -> web.Response:
        sid = request.get(STAFF)
        html = self.templates.get_template(template).render(
            csrf=self.auth.csrf_token(sid) if sid else "", signed_in=bool(sid),
            path=request.path, **values)
        return web.Response(text=html, content_type="text/html",
                            headers={"Cache-Control": "no-store",
                                     "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": CSP})


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'")
CONSOLE = web.AppKey("console", Console)
STAFF = web.RequestKey("staff", str)  # the signed-in session id


def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("bot.admin", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["mask"] = mask
    env.filters["iso"] = iso
    env.filters["pct"] = lambda v: "-" if v is None else f"{v * 100:.1f}%"
    return env


def staff(handler: Handler) -> Handler:
    """Only for a signed-in staff member; a POST must also carry the session's CSRF token."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        console = request.app[CONSOLE]
        sid = console.auth.session_id(request.cookies.get(SESSION_COOKIE))
        if sid is None:
            if request.method == "GET":
                raise web.HTTPFound("/admin/login")
            raise web.HTTPForbidden(text="sign in first")
        request[STAFF] = sid
        if request.method == "POST":
            form = await request.post()
            if not console.auth.csrf_ok(sid, str(form.get("csrf", ""))):
                log.warning("console form without a valid CSRF token", path=request.path)
                raise web.HTTPForbidden(text="this form has expired: reload the page")
        return await handler(request)

    return guarded
