"""`bot.lookup` for Quorum: a send is found by its supporter and text since the start of the
effect; absence counts only when the page covers the window."""

from __future__ import annotations

import time

from bot.lookup import PAGE, sent_upstream
from bot.sandbox import Sandbox
from bot.upstream import Upstreams

PHONE = "+15555550100"


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def rows(sandbox: Sandbox, times: list[float]) -> None:
    """Old sends to another supporter, in the sandbox's order (it lists newest appended
    first)."""
    sandbox.quorum.sends.extend(
        {"id": i + 1, "supporter_id": "/api/newsupporter/999/", "message_content": "old",
         "current_status": 1, "associated_number": "+15005550006", "created": iso(t)}
        for i, t in enumerate(times))


async def test_found_by_supporter_and_text(upstreams: Upstreams, sandbox: Sandbox) -> None:
    since = time.time() - 5
    await upstreams.quorum.send_sms(PHONE, "Hello")
    assert await sent_upstream(upstreams, "quorum", PHONE, "Hello", since) is True
    assert await sent_upstream(upstreams, "quorum", PHONE, "Other text", since) is False
    assert await sent_upstream(upstreams, "quorum", "+15555550101", "Hello", since) is False
    assert await sent_upstream(upstreams, "quorum", PHONE, "Hello", time.time() + 60) is False


async def test_a_full_page_newest_first_reaching_past_the_window_proves_absence(
        upstreams: Upstreams, sandbox: Sandbox) -> None:
    now = time.time()
    rows(sandbox, [now - 3600 + i for i in range(PAGE + 5)])  # listed newest first
    assert await sent_upstream(upstreams, "quorum", PHONE, "Hello", now - 60) is False


async def test_a_full_page_inside_the_window_or_unordered_proves_nothing(
        upstreams: Upstreams, sandbox: Sandbox) -> None:
    now = time.time()
    rows(sandbox, [now - 10 + i * 0.01 for i in range(PAGE)])  # all inside the window
    assert await sent_upstream(upstreams, "quorum", PHONE, "Hello", now - 60) is None
    sandbox.quorum.sends.clear()
    rows(sandbox, [now - 3600 - i for i in range(PAGE)])  # listed oldest first
    assert await sent_upstream(upstreams, "quorum", PHONE, "Hello", now - 60) is None
