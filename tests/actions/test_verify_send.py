"""`verify_send`: local, TeleSign and WeVote codes; cooldown; the upstream requests made."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from bot.actions.verify_common import DEV_KEY
from bot.sms import Refused, SendError
from bot.upstream.errors import UpstreamUnavailable
from tests.actions.conftest import LOOKUP_TIMEOUT, NOW, PHONE, Env
from tests.upstream.conftest import HASTY_TIMEOUT

SEND = "verify_send"
KEYS = {"verify_hash", "verify_salt", "verify_device", "verify_sms_id", "verify_expires",
        "verify_sent_at", "verify_tries"}


def expected_hash(key: bytes, salt: str, phone: str, code: str) -> str:
    return hmac.new(key, f"{salt}|{phone}|{code}".encode(), hashlib.sha256).hexdigest()


def code_in(text: str) -> str:
    found = re.findall(r"\b(\d{6})\b", text)
    assert len(found) == 1, text
    return str(found[0])


# --- local -------------------------------------------------------------------------------
async def test_local_texts_a_code_and_keeps_only_its_hash(env: Env) -> None:
    outcome = await env.run(SEND)
    assert outcome.ok and outcome.reason is None
    assert len(env.texts) == 1
    code = code_in(env.texts[0])
    assert env.texts[0] == f"civictext: your code is {code}. It expires in 10 minutes."
    data = dict(outcome.data)
    assert set(data) == KEYS
    assert data["verify_hash"] == expected_hash(DEV_KEY, str(data["verify_salt"]), PHONE, code)
    assert len(str(data["verify_salt"])) == 16
    assert data["verify_expires"] == int(NOW) + 600
    assert data["verify_sent_at"] == int(NOW)
    assert data["verify_tries"] == 0
    assert data["verify_device"] == data["verify_sms_id"] == ""
    assert all(code not in str(v) for v in data.values())
    assert env.sandbox.log == []  # the bot texted it itself: no upstream call


async def test_local_text_in_spanish_and_with_program_and_ttl(env: Env) -> None:
    env.configure(program_name="Vote Water", verify_code_ttl=60)
    env.lang = "es"
    outcome = await env.run(SEND)
    assert outcome.ok
    code = code_in(env.texts[0])
    assert env.texts == [f"Vote Water: su codigo es {code}. Vence en 1 minuto."]


async def test_local_hash_is_keyed_by_verify_secret(env: Env) -> None:
    env.configure(verify_secret="s3cret-key")
    outcome = await env.run(SEND)
    code, salt = code_in(env.texts[0]), str(outcome.data["verify_salt"])
    assert outcome.data["verify_hash"] == expected_hash(b"s3cret-key", salt, PHONE, code)
    assert outcome.data["verify_hash"] != expected_hash(DEV_KEY, salt, PHONE, code)


async def test_local_salt_and_code_are_new_on_every_send(env: Env) -> None:
    first, second = await env.run(SEND), await env.run(SEND)
    assert first.data["verify_salt"] != second.data["verify_salt"]
    assert first.data["verify_hash"] != second.data["verify_hash"]
    assert len(env.texts) == 2


@pytest.mark.parametrize("result", [Refused.OPTED_OUT, Refused.LOOP])
async def test_local_text_held_back_by_the_guard_is_not_sent(env: Env, result: Refused) -> None:
    env.send_result = result
    outcome = await env.run(SEND)
    assert (outcome.ok, outcome.reason) == (False, "not_sent")
    assert "verify_hash" not in outcome.data


async def test_local_send_errors(env: Env) -> None:
    env.send_error = SendError("provider down", retryable=True)
    with pytest.raises(SendError):
        await env.run(SEND)
    env.send_error = SendError("bad number", retryable=False)
    outcome = await env.run(SEND)
    assert (outcome.ok, outcome.reason) == (False, "not_sent")


# --- cooldown ----------------------------------------------------------------------------
async def test_resend_within_the_cooldown_is_refused(env: Env) -> None:
    outcome = await env.run(SEND, resend="true", sent_at=str(int(NOW) - 10))
    assert (outcome.ok, outcome.reason) == (False, "cooldown")
    assert outcome.data == {"verify_wait": 50}
    assert env.texts == []


@pytest.mark.parametrize("resend, sent_at", [
    ("true", str(int(NOW) - 60)),   # the cooldown is over
    ("True", ""),                    # no earlier send known
    ("false", str(int(NOW) - 1)),    # not a resend: no cooldown
    ("", str(int(NOW) - 1)),
])
async def test_sends_outside_the_cooldown(env: Env, resend: str, sent_at: str) -> None:
    outcome = await env.run(SEND, resend=resend, sent_at=sent_at)
    assert outcome.ok
    assert len(env.texts) == 1


async def test_params_accept_literals_and_refuse_unknown_keys(env: Env) -> None:
    outcome = await env.run(SEND, resend=True, sent_at=int(NOW) - 5)
    assert outcome.reason == "cooldown"
    with pytest.raises(ValueError, match="extra"):
        await env.run(SEND, bogus="1")


# --- telesign ----------------------------------------------------------------------------
async def test_telesign_sends_our_own_code(env: Env) -> None:
    env.configure(verify_provider="telesign")
    outcome = await env.run(SEND)
    assert outcome.ok
    assert env.calls() == ["POST /telesign/v1/verify/sms"]
    body = env.sandbox.log.last("telesign").body
    assert body["phone_number"] == "1" + PHONE[2:]
    assert body["language"] == "en-US"
    code = body["verify_code"]
    assert re.fullmatch(r"\d{6}", code)
    assert env.sandbox.telesign.last_code["1" + PHONE[2:]] == code
    salt = str(outcome.data["verify_salt"])
    assert outcome.data["verify_hash"] == expected_hash(DEV_KEY, salt, PHONE, code)
    assert all(code not in str(v) for v in outcome.data.values())
    assert env.texts == []  # TeleSign texted it, not the bot


async def test_telesign_unclear_answer_counts_as_sent(env: Env) -> None:
    # Its one call can only time out (the sandbox hangs): no need to wait the usual timeout.
    env.configure(verify_provider="telesign", upstream_timeout=HASTY_TIMEOUT)
    env.sandbox.telesign.fail_next["POST /v1/verify/sms"] = ["timeout"]
    outcome = await env.run(SEND)
    assert outcome.ok and outcome.data["verify_hash"]
    assert outcome.reason == "unclear"  # the flow must not say a code was sent
    assert env.calls() == ["POST /telesign/v1/verify/sms"]


async def test_telesign_unavailable_is_left_to_the_worker(env: Env) -> None:
    env.configure(verify_provider="telesign")
    env.sandbox.telesign.fail_next["POST /v1/verify/sms"] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(SEND)


async def test_telesign_hard_cap_is_rejected(env: Env) -> None:
    env.configure(verify_provider="telesign")
    env.sandbox.telesign.fail_next["POST /v1/verify/sms"] = ["hardcap"]
    outcome = await env.run(SEND)
    assert (outcome.ok, outcome.reason) == (False, "rejected")


# --- wevote ------------------------------------------------------------------------------
async def test_wevote_first_send_makes_a_voter_and_sends_the_sign_in_code(env: Env) -> None:
    env.configure(verify_provider="wevote")
    outcome = await env.run(SEND)
    assert outcome.ok
    assert env.calls() == ["GET /wevote/deviceIdGenerate/", "GET /wevote/voterCreate/",
                           "GET /wevote/voterSMSPhoneNumberSave/"]
    query = env.sandbox.log.last("wevote").query
    assert query["sms_phone_number"] == PHONE
    assert query["send_sign_in_code_sms"] == "true"
    assert "sms_we_vote_id" not in query
    data = outcome.data
    assert data["verify_hash"] == data["verify_salt"] == ""
    assert data["verify_device"] == query["voter_device_id"]
    assert data["verify_device"] in env.sandbox.wevote.devices
    assert data["verify_sms_id"] == "wv02sms1"
    assert data["verify_expires"] == int(NOW) + 600
    assert [p for p, _ in env.sandbox.wevote.codes_sent] == [PHONE]
    assert env.texts == []


async def test_wevote_resend_reuses_the_device_and_the_sms_row(env: Env) -> None:
    env.configure(verify_provider="wevote")
    first = await env.run(SEND)
    env.sandbox.log.clear()
    env.now = NOW + 120
    again = await env.run(SEND, resend="true", sent_at=str(first.data["verify_sent_at"]),
                          device=str(first.data["verify_device"]),
                          sms_id=str(first.data["verify_sms_id"]))
    assert again.ok
    assert env.calls() == ["GET /wevote/voterSMSPhoneNumberSave/"]
    query = env.sandbox.log.last("wevote").query
    assert query["sms_we_vote_id"] == "wv02sms1"
    assert query["voter_device_id"] == first.data["verify_device"]
    assert "sms_phone_number" not in query
    assert len(env.sandbox.wevote.sms_rows) == 1
    assert again.data["verify_sms_id"] == "wv02sms1"
    assert again.data["verify_sent_at"] == int(NOW) + 120


async def test_wevote_refuses_a_number_it_cannot_text(env: Env) -> None:
    env.configure(verify_provider="wevote")
    env.phone = "+15555550100"  # fictional 555-01XX: not a valid number for WeVote
    outcome = await env.run(SEND)
    assert (outcome.ok, outcome.reason) == (False, "unsupported_phone")


async def test_wevote_twilio_failure_is_rejected(env: Env) -> None:
    env.configure(verify_provider="wevote")
    env.sandbox.wevote.fail_next["GET /voterSMSPhoneNumberSave/"] = ["twilio"]
    outcome = await env.run(SEND)
    assert (outcome.ok, outcome.reason) == (False, "rejected")


async def test_wevote_locked_device(env: Env) -> None:
    env.configure(verify_provider="wevote")
    first = await env.run(SEND)
    device = str(first.data["verify_device"])
    env.sandbox.wevote.devices[device].failures_total = 26
    outcome = await env.run(SEND, resend="true", device=device,
                            sms_id=str(first.data["verify_sms_id"]))
    assert (outcome.ok, outcome.reason) == (False, "locked")


async def test_wevote_unclear_send_counts_as_sent_and_finds_the_row(env: Env) -> None:
    env.configure(verify_provider="wevote", upstream_timeout=LOOKUP_TIMEOUT)
    first = await env.run(SEND)
    device = str(first.data["verify_device"])
    env.sandbox.log.clear()
    env.sandbox.wevote.fail_next["GET /voterSMSPhoneNumberSave/"] = ["timeout"]
    outcome = await env.run(SEND, device=device)  # the flow lost the row id
    assert (outcome.ok, outcome.reason) == (True, "unclear")
    assert env.calls() == ["GET /wevote/voterSMSPhoneNumberSave/",
                           "GET /wevote/voterSMSPhoneNumberRetrieve/"]
    assert outcome.data["verify_sms_id"] == "wv02sms1"
    assert outcome.data["verify_device"] == device


async def test_wevote_unavailable_is_left_to_the_worker(env: Env) -> None:
    env.configure(verify_provider="wevote")
    env.sandbox.wevote.fail_next["GET /voterSMSPhoneNumberSave/"] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(SEND)


async def test_wevote_locked_device_is_locked(env: Env) -> None:
    env.configure(verify_provider="wevote")
    first = await env.run(SEND)
    env.sandbox.wevote.fail_next["GET /voterSMSPhoneNumberSave/"] = ["locked"]
    outcome = await env.run(SEND, device=str(first.data["verify_device"]))
    assert (outcome.ok, outcome.reason) == (False, "locked")
