"""Issue 9 through `POST /webhooks/twilio/sms` with every upstream on its sandbox: opt-outs
decided by the whole text, what an opted-out phone still gets, truthful texts about codes
and calls, disclosures, and the conversation's language."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from bot.compliance import normalise
from bot.sandbox.data import SandboxCampaign
from tests.apphelpers import new_sid, text
from tests.test_advocacy import PHONE, Voter, start, walk_to_code

CONTACT = "help@example.org"
UK = "+442079460958"
OPTIN_EN = ("civictext: Reply YES to get advocacy alerts and calls to action. Msg frequency "
            "varies. Msg & data rates may apply. Reply HELP for help, STOP to cancel.")
HELP_EN = (f"civictext: advocacy alerts. Help: {CONTACT}. Msg frequency varies. Msg & data "
           "rates may apply. Reply STOP to cancel.")


async def voter_at(aiohttp_client: Any, aiohttp_server: Any, where: str, phone: str = PHONE,
                   campaigns: tuple[SandboxCampaign, ...] = (), **settings: Any) -> Voter:
    """A voter walked to `where`: "code", "campaigns", "address", "confirm_call", "calling"
    (with `campaigns` listed by Phone2Action besides the sandbox's own)."""
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server,
                                       help_contact=CONTACT, **settings)
    sandbox.p2a.campaigns = (*sandbox.p2a.campaigns, *campaigns)
    voter = Voter(bot, client, sandbox, phone)
    if where == "new":
        return voter
    code = await walk_to_code(voter, "local")
    steps = {"code": [], "campaigns": [code], "address": [code, "1"],
             "confirm_call": [code, "1", "1 Main St 64108"],
             "calling": [code, "1", "1 Main St 64108", "CALL"]}[where]
    for body in steps:
        await voter.says(body)
    return voter


async def state_of(voter: Voter) -> tuple[str | None, bool]:
    conv = (await voter.bot.runtime.store.load(voter.phone)).conversation
    return conv.state, conv.opted_out


# --- opt-outs decided by the whole text ------------------------------------------------------
@pytest.mark.parametrize(("where", "body", "opted_out"), [
    ("address", "12 End St 64108", False),            # a street called End
    ("address", "End St", False),                     # reads as a street: asked for the ZIP
    ("address", "Stop this nonsense", True),
    ("campaigns", "Stop the Cuts", False),            # a campaign's name, quoted from the menu
    ("campaigns", "Stop this nonsense", True),        # no campaign's name: leans to opt-out
    ("address", "stop please", True),
    ("campaigns", "I'd like to opt out", True),
    ("code", "por favor paren", True),
    ("confirm_call", "don't stop, I love these", False),
    ("address", "x" * 150 + " anyway, please stop texting me", True),  # over 160 characters
])
async def test_opt_out_by_the_whole_text(aiohttp_client: Any, aiohttp_server: Any, where: str,
                                         body: str, opted_out: bool) -> None:
    cuts = SandboxCampaign(1006, "Stop the Cuts", "Call your senators: stop the cuts.",
                           ("FEDERAL",))
    voter = await voter_at(aiohttp_client, aiohttp_server, where, campaigns=(cuts,))
    answer = await voter.says(body)
    assert (await state_of(voter))[1] is opted_out
    assert await voter.bot.runtime.consent.is_opted_out(PHONE) is opted_out
    if opted_out:
        assert answer == ["civictext: You are unsubscribed and will get no more messages. "
                          "Reply START to resubscribe."]
    else:
        assert answer and "unsubscribed" not in answer[0]


# --- after STOP ---------------------------------------------------------------------------
async def test_join_after_stop_gets_only_the_optin_question_and_yes_resubscribes(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "code")
    await voter.says("STOP")
    assert await voter.says("hello") == []
    assert await voter.says("JOIN") == [OPTIN_EN]          # exactly one text
    for body in ("maybe", "sure", "1 Main St 64108"):        # anything else: unanswered
        assert await voter.says(body) == [], body
    assert await voter.bot.runtime.consent.is_opted_out(PHONE)
    resumed = await voter.says("YES")
    assert resumed[-1].startswith("We sent you a code")     # the flow continues
    assert not await voter.bot.runtime.consent.is_opted_out(PHONE)
    consent = await voter.bot.runtime.consent.history(PHONE)
    assert [(c.keyword, c.opted_out) for c in consent] == [
        ("OPT-IN:advocacy", False), ("STOP", True), ("REJOIN-ASKED:advocacy", True),
        ("OPT-IN:advocacy", False)]
    assert any("/whatcounts/rest/sms/addPhoneToSenderCode/" in c for c in voter.sandbox.log)


async def test_help_after_stop_is_answered_once(aiohttp_client: Any, aiohttp_server: Any
                                                ) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "code")
    await voter.says("stop")
    assert await voter.says("HELP") == [HELP_EN]
    assert await voter.says("help") == [HELP_EN]  # each HELP: one answer
    assert await voter.bot.runtime.consent.is_opted_out(PHONE)


async def test_carrier_opt_out_is_silent_until_the_providers_start(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "code")
    resp = await voter.client.post("/webhooks/twilio/status", data={
        "MessageSid": new_sid(), "MessageStatus": "failed", "ErrorCode": "21610", "To": PHONE})
    assert resp.status == 200
    for body in ("JOIN", "HELP", "UNETE", "hello"):
        assert await voter.says(body) == [], body
    # The conversation expires (30 days); the opt-out, and who made it, does not.
    runtime = voter.bot.runtime
    await runtime.redis.delete(runtime.keys.conversation(PHONE))
    assert await voter.says("JOIN") == []
    assert await voter.says("START") == []  # Twilio's own START answers the voter
    assert not await voter.bot.runtime.consent.is_opted_out(PHONE)
    assert await voter.says("JOIN") == [OPTIN_EN]


async def test_provider_keyword_handling_is_silent_until_its_yes(aiohttp_client: Any,
                                                                 aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "code",
                           provider_handles_keywords=True)
    assert await voter.says("STOP") == []
    for body in ("JOIN", "HELP", "2"):
        assert await voter.says(body) == [], body
    assert await voter.says("yes") == []
    assert not await voter.bot.runtime.consent.is_opted_out(PHONE)


async def test_start_from_a_new_phone_gets_a_welcome(aiohttp_client: Any, aiohttp_server: Any
                                                     ) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "new")
    assert await voter.says("START") == [
        "civictext: Welcome! Text JOIN to sign up for advocacy alerts (UNETE en espanol). "
        "Reply HELP for help, STOP to cancel."]


async def test_help_without_help_contact_names_none_and_the_server_warns(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    with capture_logs() as logs:
        bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    assert any("HELP_CONTACT is not set" in entry["event"] for entry in logs)
    answer = await Voter(bot, client, sandbox).says("HELP")
    assert answer == ["civictext: advocacy alerts. Msg frequency varies. Msg & data rates may "
                      "apply. Reply STOP to cancel."]


# --- codes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["{a} {b}", "{a}-{b}", "my code is {a} {b}"])
async def test_a_code_typed_with_a_space_or_dash_is_the_code(aiohttp_client: Any,
                                                            aiohttp_server: Any,
                                                            shape: str) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox)
    code = await walk_to_code(voter, "local")
    typed = shape.format(a=code[:3], b=code[3:])
    assert (await voter.says(typed))[0] == "Thanks, your number is confirmed."


async def test_a_lost_send_answer_never_claims_a_code_was_sent(aiohttp_client: Any,
                                                                aiohttp_server: Any) -> None:
    # The lost answer costs the client's whole timeout: 0.25 s here, not the default 10 (the
    # calls after it must still answer within it).
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server, verify_provider="telesign",
                                       upstream_timeout=0.25)
    voter = Voter(bot, client, sandbox)
    await voter.says("JOIN")
    sandbox.telesign.fail_next["POST /v1/verify/sms"] = ["timeout"]
    answer = await voter.says("yes")
    assert answer == ["We asked for a code to be texted to you, but could not confirm it was "
                      "sent. Reply with the code if it arrives, or RESEND for a new one."]
    code = str(sandbox.log.last("telesign").body["verify_code"])  # it did arrive after all
    assert (await voter.says(code))[0] == "Thanks, your number is confirmed."


# --- calls ----------------------------------------------------------------------------------
@pytest.mark.parametrize("body", ["?", "help me", "what now"])
async def test_calling_state_reminds_of_the_menu_and_never_claims_a_ring(
        aiohttp_client: Any, aiohttp_server: Any, body: str) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "calling")
    before = voter.sandbox.log.count("POST /p2a/connections")
    assert await voter.says(body) == ["Reply CALL to call again or MENU for other campaigns."]
    assert voter.sandbox.log.count("POST /p2a/connections") == before == 1


async def test_the_ring_text_names_exactly_whom_p2a_connects(aiohttp_client: Any,
                                                             aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "confirm_call")
    # P2A dials the targets of the advocate's saved address: move it, so its answer differs
    # from the list the voter saw, and the text must follow P2A's answer.
    [advocate] = voter.sandbox.p2a.advocates.values()
    advocate["address"] = {"street1": "5 W 34th St", "zip5": "10001"}
    calling = await voter.says("call")
    assert calling[-1].startswith("Your phone will ring now to connect you with Sen. Pat Quinn, "
                                  "Sen. Robin Shah, Rep. Kim Baptiste. When they answer")


async def test_no_ring_claim_when_no_connection_was_made(aiohttp_client: Any,
                                                         aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "confirm_call")
    voter.sandbox.p2a.fail_next["POST /connections"] = [400]
    answer = await voter.says("CALL")
    assert answer == ["Sorry, we could not start the call just now. Reply CALL to try again."]
    assert not any("ring" in a for a in answer)


async def test_lookups_always_send_the_street(aiohttp_client: Any, aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "address")
    assert (await voter.says("1 Main St"))[-1].startswith("Please include your 5-digit ZIP")
    assert (await voter.says("2 Main St"))[-1].startswith("Please include your 5-digit ZIP")
    assert "GET /p2a/legislators" not in voter.sandbox.log
    assert (await voter.says("64108"))[-1].startswith(
        "To find your legislators we also need your street address.")
    assert "GET /p2a/legislators" not in voter.sandbox.log
    assert (await voter.says("help me"))[-1].startswith(  # not a street: asked again
        "To find your legislators we also need your street address.")
    assert "GET /p2a/legislators" not in voter.sandbox.log
    assert (await voter.says("12 Main St"))[-1].startswith(  # the ZIP given before is kept
        "A call will connect you with: Sen. Jordan Avery (R)")
    lookups = [r.query for r in voter.sandbox.log.requests if r.path == "/p2a/legislators"]
    assert lookups and all(q.get("address1") for q in lookups)


# --- disclosures and language ----------------------------------------------------------------
async def test_optin_discloses_program_frequency_rates_help_and_stop(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "new")
    assert await voter.says("JOIN") == [OPTIN_EN]
    [spanish] = await Voter(voter.bot, voter.client, voter.sandbox, "+15555550122").says("UNETE")
    for needed in ("civictext", "Frecuencia de msjs varia", "tarifas", "AYUDA", "PARAR"):
        assert needed in spanish


@pytest.mark.parametrize(("body", "expected"), [
    ("AYUDA", f"civictext: alertas de accion. Ayuda: {CONTACT}. La frecuencia de mensajes "
              "varia. Pueden aplicarse tarifas de mensajes y datos. Responda PARAR para "
              "cancelar."),
    ("Hola", "civictext: Envie UNETE para empezar (JOIN in English). Responda AYUDA para "
             "ayuda, PARAR para cancelar."),
    ("hello", "civictext: Text JOIN to get started (UNETE en espanol). Reply HELP for help, "
              "STOP to cancel."),
])
async def test_a_new_phone_is_answered_in_its_language(aiohttp_client: Any,
                                                       aiohttp_server: Any, body: str,
                                                       expected: str) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "new")
    assert await voter.says(body) == [expected]


async def test_every_text_of_a_spanish_conversation_is_spanish(aiohttp_client: Any,
                                                               aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server, help_contact=CONTACT)
    voter = Voter(bot, client, sandbox)
    code = await walk_to_code(voter, "local", spanish=True)
    said = await voter.says("no se")
    said += await voter.says("REENVIAR")
    said += await voter.says("AYUDA")
    said += await voter.says(code)
    said += await voter.says("cual?")
    english = {"REPLY", "SORRY", "THE", "CODE", "PLEASE", "OR", "WAIT", "YOUR", "HELP"}
    for body in said:
        assert not english & set(normalise(body.replace(CONTACT, "")).split()), body


async def test_a_number_the_services_cannot_serve_is_told_so_first(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    voter = await voter_at(aiohttp_client, aiohttp_server, "new", phone=UK)
    assert await voter.says("JOIN") == [
        "civictext: Sorry, this service is only for phones in US. We will not text you again."]
    assert await voter.says("YES") == []  # one short answer, never a code (SMS_COUNTRIES)
    assert not voter.calls("telesign") and not voter.calls("wevote")
    assert await voter.says("STOP") == []  # recorded, pushed upstream; the answer was given
    assert await voter.bot.runtime.consent.is_opted_out(UK)
    assert any(c.startswith("POST /whatcounts/rest/sms/stopSubscriberSend/") for c in
               voter.sandbox.log)
    assert await voter.bot.runtime.outbox.dead_letters() == []


@pytest.mark.parametrize("own", ["+15555550199", PHONE])  # SMS_FROM; the To of the text
async def test_the_bot_never_texts_its_own_numbers(aiohttp_client: Any, aiohttp_server: Any,
                                                   own: str) -> None:
    bot, client, _ = await start(aiohttp_client, aiohttp_server)
    resp = await text(client, "JOIN", own, extra={"To": PHONE} if own == PHONE else None)
    assert resp.status == 200
    await bot.runtime.settle()
    assert bot.sender.sent == []
