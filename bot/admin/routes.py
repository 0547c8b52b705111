"""The console's routes and its sign-in."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from bot.admin import broadcasts, dead, pages
from bot.admin.auth import LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECONDS, Auth, set_cookie
from bot.admin.console import CONSOLE, Console, staff, templates
from bot.config import Settings

log = structlog.get_logger("bot.admin")

STATIC = Path(__file__).resolve().parent / "static"
FAILED_LOGIN_PAUSE = 1.0  # seconds: slows password guessing to one try a second


async def console_off(request: web.Request) -> web.Response:
    return web.Response(status=401, text="The console is off: set ADMIN_PASSWORD to open it.")


async def login_form(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    if console.auth.session_id(request.cookies.get(SESSION_COOKIE)):
        raise web.HTTPFound("/admin")
    token = secrets.token_hex(16)
    response = console.page(request, "login.html", login_token=token, error="")
    set_cookie(response, request, LOGIN_COOKIE, token, 3600, https=console.https)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await request.post()
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not token or not secrets.compare_digest(token, str(form.get("login_token", ""))):
        raise web.HTTPForbidden(text="this form has expired: reload the page")
    if not console.auth.password_ok(str(form.get("password", ""))):
        log.warning("console sign-in refused", remote=request.remote)
        await asyncio.sleep(FAILED_LOGIN_PAUSE)
        response = console.page(request, "login.html", login_token=token,
                                error="That password is not right.")
        response.set_status(401)
        return response
    log.info("console sign-in", remote=request.remote)
    redirect = web.HTTPFound("/admin")
    set_cookie(redirect, request, SESSION_COOKIE, console.auth.new_session(), SESSION_SECONDS,
               https=console.https)
    redirect.del_cookie(LOGIN_COOKIE, path="/admin")
    raise redirect


@staff
async def logout(request: web.Request) -> web.StreamResponse:
    redirect = web.HTTPFound("/admin/login")
    redirect.del_cookie(SESSION_COOKIE, path="/admin")
    raise redirect


def setup_admin(app: web.Application, settings: Settings,
                runtime_key: web.AppKey[Any]) -> None:
    """Mount `/admin` (every path answers 401 while ADMIN_PASSWORD is unset); the views
    find the process's `Runtime` under `runtime_key` once the app has started."""
    if settings.admin_password is None or not settings.admin_password.get_secret_value():
        app.router.add_route("*", "/admin", console_off)
        app.router.add_route("*", "/admin/{tail:.*}", console_off)
        return
    app[CONSOLE] = Console(auth=Auth(settings), templates=templates(),
                           https=(settings.public_base_url or "").startswith("https://"),
                           runtime_key=runtime_key)
    r = app.router
    r.add_static("/admin/static", STATIC)
    r.add_get("/admin/login", login_form)
    r.add_post("/admin/login", login)
    r.add_post("/admin/logout", logout)
    pages.setup(r, staff)
    broadcasts.setup(r, staff)
    dead.setup(r, staff)
