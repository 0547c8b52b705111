"""The console in a real browser: headless Chromium (the distribution's, as `.ci/run`
installs it) driven by Playwright through sign-in, a dry run and a real broadcast to three
test phones, a phone lookup with a logged reveal, and a dead-letter replay.

Set CONSOLE_SCREENSHOTS=docs/console to refresh the screenshots in docs/console.md.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sms import MemorySender, SendError
from tests.apphelpers import Bot, start_bot, text
from tests.conftest import make_settings

#: Integration too, like the cluster tests: it needs a program outside the venv (Chromium),
#: and `-m "not integration"` is the quick run that needs nothing but Python.
pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
PHONES = ("+15555550101", "+15555550102", "+15555550103")
BROKEN = "+15555550109"  # its first text fails for good: a dead letter
ALERT = "Thanks, you're in!"


class FailsOnce(MemorySender):
    """Records texts; the first one to BROKEN fails permanently (then it works)."""

    failed: bool = False

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        if phone == BROKEN and not self.failed:
            self.failed = True
            raise SendError("21211 invalid 'To' number (test)", retryable=False)
        return await super().send(phone, body, idempotency_key=idempotency_key)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import async_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        await chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_console_end_to_end(aiohttp_client: Any, aiohttp_server: Any, browser: Any,
                                  shots: Path) -> None:
    sender = FailsOnce()
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server,
                                     make_settings(admin_password=PASSWORD), sender=sender)
    for phone in PHONES:
        for body in ("JOIN", "YES"):
            await text(client, body, phone)
    await text(client, "JOIN", BROKEN)
    await bot.runtime.settle()
    assert not any(p == BROKEN for p, _ in sender.sent)  # it is a dead letter now
    base = str(client.make_url("/admin")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1100, "height": 900})

    await sign_in(page, base)
    await look_at_overview_and_flows(page, base, shots)
    await broadcast_to_three(page, base, bot, sender, shots)
    await look_up_a_phone(page, base, bot, shots)
    await replay_the_dead_letter(page, base, bot, sender, shots)
    await fits_a_phone_screen(browser, page, shots)


async def sign_in(page: Any, base: str) -> None:
    await page.goto(base)
    assert page.url.endswith("/admin/login")  # closed without a session
    await page.fill("#password", "not the password")
    await page.click("button[type=submit]")
    assert "not right" in await page.inner_text("main")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "ct_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


async def look_at_overview_and_flows(page: Any, base: str, shots: Path) -> None:
    assert await page.inner_text("#subscribers") == "3"
    await page.wait_for_selector("#funnel-chart canvas")  # uPlot, served from the package
    assert "flow join" in await page.inner_text("main")
    await page.screenshot(path=str(shots / "overview.png"), full_page=True)
    await page.goto(base + "/flows")
    assert await page.locator("svg.diagram .state").count() == 4  # join.yaml's states
    assert "1 flow(s) ok" in await page.inner_text("pre.check")
    await page.screenshot(path=str(shots / "flows.png"), full_page=True)


async def broadcast_to_three(page: Any, base: str, bot: Bot, sender: FailsOnce,
                             shots: Path) -> None:
    await page.goto(base + "/broadcasts")
    await page.select_option("#flow", "join")
    await page.fill("#state", "confirmed")
    await page.fill("#segment", "all")
    await page.click("text=Dry run")
    assert await page.inner_text("#would-send") == "3"
    await bot.runtime.settle()
    assert not any(ALERT in body for _, body in sender.sent[3 * 2:])  # a dry run sends none
    await page.screenshot(path=str(shots / "broadcast-dry-run.png"), full_page=True)
    before = len(sender.sent)
    await page.click("#send")
    await page.wait_for_url(base + "/broadcasts")
    status = page.locator("#broadcasts tbody tr").first.locator(".status")
    for _ in range(40):  # the page refreshes itself every 3 s while a broadcast runs
        if await status.inner_text() == "done":
            break
        await page.wait_for_timeout(500)
    assert await status.inner_text() == "done"
    assert "3/3" in await page.inner_text("#broadcasts")
    await bot.runtime.settle()
    alerted = sorted(p for p, body in sender.sent[before:] if ALERT in body)
    assert alerted == sorted(PHONES)
    await page.screenshot(path=str(shots / "broadcasts.png"), full_page=True)


async def look_up_a_phone(page: Any, base: str, bot: Bot, shots: Path) -> None:
    await page.goto(base + "/phone")
    await page.fill("#phone", "(555) 555-0101")
    await page.click("text=Look up")
    assert await page.inner_text("#shown-phone") == "+1******0101"
    assert PHONES[0] not in await page.content()  # masked, in the markup too
    history = await page.inner_text("#consent-history")
    assert "opt-in" in history and "OPT-IN:join" in history
    assert await page.inner_text("#consent-now") == "subscribed"
    await page.screenshot(path=str(shots / "phone.png"), full_page=True)
    await page.click("text=Reveal the number")
    assert await page.inner_text("#shown-phone") == PHONES[0]
    audit: Any = await bot.runtime.redis.xrange(f"{bot.runtime.keys.prefix}:admin:audit")
    assert [(f[b"action"], f[b"phone"]) for _, f in audit] == [(b"reveal", PHONES[0].encode())]


async def replay_the_dead_letter(page: Any, base: str, bot: Bot, sender: FailsOnce,
                                 shots: Path) -> None:
    await page.goto(base + "/dead")
    rows = page.locator("#dead tbody tr[data-ref]")
    assert await rows.count() == 1
    assert "+1******0109" in await rows.first.inner_text()
    await page.screenshot(path=str(shots / "dead-letters.png"), full_page=True)
    await rows.first.locator("text=Replay").click()
    assert "queued again" in await page.inner_text("main")
    assert await page.locator("#dead tbody tr[data-ref]").count() == 0
    await bot.runtime.settle()
    assert any(p == BROKEN and "Reply YES" in body for p, body in sender.sent)


async def fits_a_phone_screen(browser: Any, page: Any, shots: Path) -> None:
    mobile = await browser.new_page(viewport={"width": 390, "height": 844},
                                    device_scale_factor=2, is_mobile=True)
    await mobile.context.add_cookies(await page.context.cookies())
    await mobile.goto(page.url.rsplit("/admin", 1)[0] + "/admin")
    await mobile.wait_for_selector("#funnel-chart canvas")
    overflow = await mobile.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390  # nothing wider than the screen: tables scroll inside cards
    await mobile.screenshot(path=str(shots / "overview-phone.png"), full_page=True)
