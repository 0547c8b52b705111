"""The console without a browser: closed unless ADMIN_PASSWORD, signed sessions, CSRF on
every form, and the dead-letter store it replays and drops through."""

from __future__ import annotations

import re
import time
from typing import Any

from bot.admin.auth import SESSION_COOKIE, Auth
from tests.apphelpers import build_bot
from tests.conftest import make_settings

PASSWORD = "s3cret-for-tests"


async def signed_in(aiohttp_client: Any) -> tuple[Any, Any]:
    bot = build_bot(make_settings(admin_password=PASSWORD))
    client = await aiohttp_client(bot.app)
    page = await (await client.get("/admin/login")).text()
    token = re.search(r'name="login_token" value="([^"]+)"', page)
    assert token is not None
    resp = await client.post("/admin/login", data={"login_token": token.group(1),
                                                   "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin"
    return bot, client


async def test_console_is_off_without_a_password(aiohttp_client: Any) -> None:
    client = await aiohttp_client(build_bot(make_settings()).app)
    for path in ("/admin", "/admin/login", "/admin/broadcasts"):
        resp = await client.get(path)
        assert resp.status == 401 and "ADMIN_PASSWORD" in await resp.text()


async def test_pages_need_a_session(aiohttp_client: Any) -> None:
    client = await aiohttp_client(build_bot(make_settings(admin_password=PASSWORD)).app)
    resp = await client.get("/admin/dead", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin/login"
    forged = Auth(make_settings(admin_password="another password")).new_session()
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: forged})
    assert (await client.get("/admin/dead", allow_redirects=False)).status == 302


async def test_login_form_needs_its_own_token(aiohttp_client: Any) -> None:
    client = await aiohttp_client(build_bot(make_settings(admin_password=PASSWORD)).app)
    resp = await client.post("/admin/login", data={"password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 403


async def test_every_form_needs_the_csrf_token(aiohttp_client: Any) -> None:
    bot, client = await signed_in(aiohttp_client)
    assert (await client.get("/admin")).status == 200
    for path in ("/admin/flows/reload", "/admin/phone", "/admin/broadcasts",
                 "/admin/broadcasts/preview", "/admin/logout"):
        resp = await client.post(path, data={"phone": "+15555550100", "flow": "join",
                                             "segment": "all", "csrf": "wrong"})
        assert resp.status == 403, path
    page = await (await client.get("/admin/phone")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    resp = await client.post("/admin/phone", data={"phone": "+15555550100",
                                                   "csrf": csrf.group(1)})
    assert resp.status == 200 and "+1******0100" in await resp.text()


def test_sessions_expire_and_tampering_is_refused() -> None:
    auth = Auth(make_settings(admin_password=PASSWORD))
    cookie = auth.new_session(now=1000.0)
    assert auth.session_id(cookie, now=1001.0)
    assert auth.session_id(cookie, now=1000.0 + 13 * 3600) is None
    payload, _, sig = cookie.partition(".")
    assert auth.session_id(payload + "x." + sig, now=1001.0) is None
    sid = auth.session_id(auth.new_session(), now=time.time())
    assert sid and auth.csrf_ok(sid, auth.csrf_token(sid))
    assert not auth.csrf_ok(sid, auth.csrf_token(sid + "0"))


async def test_reload_from_the_console_tells_every_process(aiohttp_client: Any) -> None:
    bot, client = await signed_in(aiohttp_client)
    page = await (await client.get("/admin/flows")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None and "svg" in page
    resp = await client.post("/admin/flows/reload", data={"csrf": csrf.group(1)})
    assert resp.status == 200 and "Flows reloaded: join" in await resp.text()
    assert await bot.runtime.redis.get(bot.runtime.keys.flows_reload()) == b"1"


def test_staff_commands_say_they_need_the_shared_redis(capsys: Any, monkeypatch: Any) -> None:
    from bot.__main__ import main

    monkeypatch.delenv("REDIS_URL", raising=False)

    for argv in (["consent", "show", "+15555550100"], ["stats"],
                 ["consent", "export", "--since", "2026-12-01"],
                 ["broadcast", "--flow", "join", "--to", "all", "--dry-run"]):
        assert main(argv) == 2
        assert "REDIS_URL" in capsys.readouterr().err


async def test_overview_shows_quorum_statuses_as_unknown_and_outside_the_rates(
        aiohttp_client: Any) -> None:
    bot, client = await signed_in(aiohttp_client)
    deliveries, now = bot.runtime.deliveries, bot.clock.now()
    await deliveries.sent("quorum", "7", "+15555550100", "e-7", now)
    await deliveries.status("quorum", "7", "quorum-3", "", now)
    await deliveries.sent("twilio", "SMok", "+15555550100", "e-ok", now)
    await deliveries.status("twilio", "SMok", "delivered", "", now)
    page = await (await client.get("/admin")).text()
    assert "unknown status 3: 1" in page
    row = re.search(r"<td>\d{4}-\d\d-\d\d</td>(.*?)</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert cells[:4] == ["2", "1", "0", "100.0%"]  # sent 2; 1 settled, delivered
