"""The advocacy flow end to end: Twilio webhook in, every upstream on its sandbox, texts out.

Each conversation goes through the real app (webhook, engine, store, worker, actions,
clients over HTTP, sandboxes) with a frozen clock, and asserts what the voter reads and
which upstream requests were made.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.sandbox import SANDBOX, Sandbox
from tests.apphelpers import Bot, start_bot, text
from tests.conftest import ROOT, make_settings

PHONE = "+15555550100"
OTHER = "+15555550111"
REAL_LOOKING = "+12025550143"
AnyClient = TestClient[Any, Any]


class Voter:
    """One phone texting the bot, reading its answers as they arrive."""

    def __init__(self, bot: Bot, client: AnyClient, sandbox: Sandbox, phone: str = PHONE
                 ) -> None:
        self.bot, self.client, self.sandbox, self.phone = bot, client, sandbox, phone
        self.seen = 0

    async def says(self, body: str) -> list[str]:
        """Text `body`; return every text the bot sent this phone since the last call."""
        resp = await text(self.client, body, self.phone)
        assert resp.status == 200, await resp.text()
        await self.bot.runtime.settle(timeout=15)
        texts = self.bot.texts_to(self.phone)
        new, self.seen = texts[self.seen:], len(texts)
        return new

    def code(self, provider: str, new: list[str]) -> str:
        """The one-time code as the voter received it."""
        if provider == "local":
            found: list[str] = re.findall(r"\b(\d{6})\b", " ".join(new))
            assert found, new
            return found[-1]
        if provider == "telesign":
            body = self.sandbox.log.last("telesign").body
            return str(body["verify_code"])
        return self.sandbox.wevote.last_code[self.phone]

    def calls(self, service: str | None = None) -> list[str]:
        return [c for c in self.sandbox.log if service is None or c.startswith(
            ("GET ", "POST ")) and f" /{service}/" in c]


async def assert_under_1kib(bot: Bot, phone: str) -> None:
    """The memory budget: a conversation's stored value stays under 1 KiB at every step."""
    stored = await bot.runtime.redis.get(bot.runtime.keys.conversation(phone))
    assert stored is not None and len(stored) < 1024, stored


async def start(aiohttp_client: Any, aiohttp_server: Any, **settings: Any
                ) -> tuple[Bot, AnyClient, Sandbox]:
    values = {"flow_path": ROOT / "flows", "verify_provider": "local", **settings}
    bot, client, sandbox_app = await start_bot(aiohttp_client, aiohttp_server,
                                               make_settings(**values))
    return bot, client, sandbox_app[SANDBOX]


async def walk_to_code(voter: Voter, provider: str, *, spanish: bool = False) -> str:
    optin = await voter.says("UNETE" if spanish else "JOIN")
    assert len(optin) == 1
    assert ("Msg & data rates may apply" in optin[0]) or ("tarifas" in optin[0])
    sent = await voter.says("SI" if spanish else "yes")
    assert sent[-1].startswith("Le enviamos un codigo" if spanish else "We sent you a code")
    return voter.code(provider, sent)


@pytest.mark.parametrize("provider", ["local", "telesign", "wevote"])
async def test_join_to_call_in_english(aiohttp_client: Any, aiohttp_server: Any,
                                       provider: str) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server,
                                       verify_provider=provider)
    voter = Voter(bot, client, sandbox, REAL_LOOKING)  # WeVote refuses fictional 555 numbers
    code = await walk_to_code(voter, provider)
    menu = await voter.says(code)
    assert menu[0] == "Thanks, your number is confirmed."
    assert menu[-1].startswith("Which campaign would you like to act on?")
    assert "1) Clean Water Now" in menu[-1]
    asked = await voter.says("1")
    assert asked[-1].startswith("Clean Water Now: Reply with your street address and ZIP")
    advocate = [r for r in sandbox.log.requests if r.path == "/p2a/advocates"
                and r.method == "POST"][0]
    assert advocate.body["phone"] == "2025550143"
    assert advocate.body["smsOptin"] == "1"
    assert advocate.body["campaigns[]"] in ("1001", ["1001"])
    targets = await voter.says("1 Main St, Kansas City 64108")
    assert targets[-1] == (  # P2A connects every target: listed, never picked from
        "A call will connect you with: Sen. Jordan Avery (R), Sen. Casey Morgan (D), "
        "Rep. Riley Chen (D). Reply CALL and your phone will ring, or MENU for other campaigns.")
    assert "POST /p2a/connections" not in sandbox.log
    await assert_under_1kib(bot, REAL_LOOKING)
    calling = await voter.says("CALL")
    assert calling[-1].startswith("Your phone will ring now to connect you with Sen. Jordan "
                                  "Avery, Sen. Casey Morgan, Rep. Riley Chen. When they answer")
    assert "pass the Clean Water Act" in calling[-1]
    [connection] = [r for r in sandbox.log.requests if r.path == "/p2a/connections"]
    assert connection.body["campaignid"] == "1001"
    assert connection.body["type[]"] in ("call", ["call"])
    again = await voter.says("CALL")
    assert again[-1].startswith("Your phone will ring now")
    assert len([r for r in sandbox.log.requests if r.path == "/p2a/connections"]) == 2
    await assert_under_1kib(bot, REAL_LOOKING)
    back = await voter.says("MENU")
    assert "1) Clean Water Now" in back[-1]
    if provider == "telesign":
        assert "POST /telesign/v1/verify/sms" in sandbox.log
    if provider == "wevote":
        assert any(c.startswith("GET /wevote/voterVerifySecretCode") for c in sandbox.log)
    consent = await bot.runtime.consent.history(REAL_LOOKING)
    assert [c.keyword for c in consent] == ["OPT-IN:advocacy"]


async def test_join_to_call_in_spanish(aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox)
    code = await walk_to_code(voter, "local", spanish=True)
    menu = await voter.says(code)
    assert menu[0] == "Gracias, su numero esta confirmado."
    assert menu[-1].startswith("Sobre cual campana quiere actuar?")
    asked = await voter.says("1")
    assert "Responda con su direccion y codigo postal" in asked[-1]
    targets = await voter.says("1 Main St 64108")
    assert targets[-1].startswith("Una llamada le conectara con: Sen. Jordan Avery (R),")
    assert (await voter.says("?")) == [
        "Perdon, no entendi. Responda LLAMAR para conectarle con sus legisladores, o MENU para "
        "otras campanas."]
    calling = await voter.says("llamar")
    assert calling[-1].startswith("Su telefono sonara ahora para conectarle con Sen. Jordan")
    assert (await voter.says("ayuda me")) == [
        "Responda LLAMAR para llamar de nuevo o MENU para otras campanas."]


async def test_wrong_codes_up_to_the_bound_then_resend(aiohttp_client: Any,
                                                       aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox)
    code = await walk_to_code(voter, "local")
    wrong = "111111" if code != "111111" else "222222"
    assert (await voter.says(wrong))[-1].startswith("That code did not match. Tries left: 2.")
    assert (await voter.says(wrong))[-1].startswith("That code did not match. Tries left: 1.")
    locked = await voter.says(wrong)
    assert locked == ["Too many wrong codes, so that code no longer works. Reply RESEND and we "
                      "will text you a new code right away."]
    assert (await voter.says(code)) == [  # spent
        "Sorry, that code no longer works. Reply RESEND for a new code."]
    resent = await voter.says("RESEND")  # the promise kept: at once, no cool-down
    new_code = voter.code("local", resent)
    assert (await voter.says(new_code))[-1].startswith("Which campaign")


async def test_expired_code_and_resend_cooldown(aiohttp_client: Any, aiohttp_server: Any
                                                ) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox)
    code = await walk_to_code(voter, "local")
    cooled = await voter.says("RESEND")
    assert cooled == ["Please wait 60 seconds before asking for a new code. The code we sent "
                      "you still works: reply with it."]
    bot.clock.advance(20)
    again = await voter.says("resend")  # a second RESEND: still nothing sent, still true
    assert again[0].startswith("Please wait 40 seconds before asking for a new code.")
    assert not re.search(r"\b\d{6}\b", " ".join(cooled + again))  # no new code was sent
    bot.clock.advance(601)
    assert (await voter.says(code))[-1].startswith("That code has expired")
    fresh = voter.code("local", await voter.says("RESEND"))
    assert (await voter.says(fresh))[-1].startswith("Which campaign")


async def test_stop_midway_pushes_optout_upstream_and_silences(aiohttp_client: Any,
                                                               aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox)
    code = await walk_to_code(voter, "local")
    await voter.says(code)
    await voter.says("1")  # the advocate exists now
    stopped = await voter.says("stop")
    assert stopped == ["civictext: You are unsubscribed and will get no more messages. "
                       "Reply START to resubscribe."]
    optouts = [r for r in sandbox.log.requests if r.path == "/p2a/advocates"
               and r.method == "POST" and r.body.get("smsOptout") == "1"]
    assert len(optouts) == 1 and optouts[0].body["phone"] == "5555550100"
    assert any(c.startswith("POST /whatcounts/rest/sms/stopSubscriberSend/") for c in
               sandbox.log)
    for body in ("1 Main St 64108", "2", "CALL"):
        assert await voter.says(body) == []
    assert not any(c == "POST /p2a/connections" for c in sandbox.log)


async def test_second_phone_never_touches_the_first(aiohttp_client: Any, aiohttp_server: Any
                                                    ) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    first, second = Voter(bot, client, sandbox), Voter(bot, client, sandbox, OTHER)
    code = await walk_to_code(first, "local")
    assert (await second.says("JOIN"))[0].startswith("civictext: Reply YES")
    assert (await second.says(code))[0].startswith("Sorry, I did not understand")
    conv = (await bot.runtime.store.load(PHONE)).conversation
    assert conv.state == "ask_code"
    assert (await first.says(code))[0] == "Thanks, your number is confirmed."
    other = (await bot.runtime.store.load(OTHER)).conversation
    assert other.state == "optin" and "verify_hash" not in other.vars


async def test_upstream_503_twice_then_success_gives_one_call(aiohttp_client: Any,
                                                              aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox)
    await voter.says(await walk_to_code(voter, "local"))
    await voter.says("1")
    await voter.says("1 Main St 64108")
    sandbox.p2a.fail_next["POST /connections"] = [503, 503]
    calling = await voter.says("CALL")
    assert calling[-1].startswith("Your phone will ring now")
    assert sandbox.log.count("POST /p2a/connections") == 3  # two 503s, then one that worked
    assert sandbox.p2a.fail_next["POST /connections"] == []
    # The one call that went through: P2A keeps a connection per legislator it dials.
    calls = {(c["advocate_id"], c["created_at"]) for c in sandbox.p2a.connections.values()}
    assert len(calls) == 1


async def test_split_zip_asks_for_the_street_and_no_legislators_asks_again(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox)
    await voter.says(await walk_to_code(voter, "local"))
    await voter.says("1")
    assert (await voter.says("Main St"))[-1].startswith("Please include your 5-digit ZIP")
    assert (await voter.says("20001"))[-1].startswith(
        "To find your legislators we also need your street address.")
    assert (await voter.says("100 K St NW"))[-1].startswith(  # ZIP kept
        "A call will connect you with: Del. Terry Wallace (D).")
    await voter.says("MENU")
    await voter.says("1")
    assert (await voter.says("1 Main St 99999"))[-1].endswith(
        "has no legislators to call for that address. Check it and reply with your street "
        "address and ZIP, or MENU for other campaigns.")
    assert (await voter.says("100 K St NE 20001"))[-1].startswith("A call will connect you")
