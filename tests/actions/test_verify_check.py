"""`verify_check`: local and TeleSign hashes, WeVote's check, the tries bound, expiry."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.actions.base import ActionOutcome
from bot.upstream.errors import UpstreamUnavailable
from tests.actions.conftest import LOOKUP_TIMEOUT, NOW, PHONE, Env

SEND, CHECK = "verify_send", "verify_check"


async def sent(env: Env) -> tuple[str, dict[str, Any]]:
    """Send a code; return (the code the voter got, the params a flow passes to the check)."""
    outcome = await env.run(SEND)
    assert outcome.ok
    d = outcome.data
    params = {"hash": d["verify_hash"], "salt": d["verify_salt"], "device": d["verify_device"],
              "expires": str(d["verify_expires"]), "tries": str(d["verify_tries"])}
    if env.settings.verify_provider == "local":
        code = re.findall(r"\d{6}", env.texts[-1])[0]
    elif env.settings.verify_provider == "telesign":
        code = env.sandbox.log.last("telesign").body["verify_code"]
    else:
        code = env.sandbox.wevote.last_code[PHONE]
    return code, params


def other(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def result(outcome: ActionOutcome) -> tuple[bool, str | None]:
    return outcome.ok, outcome.reason


# --- local (and telesign: the same hash check) -------------------------------------------
@pytest.mark.parametrize("provider", ["local", "telesign"])
async def test_right_code_verifies_without_an_upstream_call(env: Env, provider: str) -> None:
    env.configure(verify_provider=provider)
    code, params = await sent(env)
    env.sandbox.log.clear()
    outcome = await env.run(CHECK, code=code, **params)
    assert result(outcome) == (True, None)
    assert outcome.data == {"verified": True, "verify_tries": 0, "verify_hash": "",
                            "verify_salt": ""}
    assert env.sandbox.log == []


async def test_code_typed_with_spaces_still_matches(env: Env) -> None:
    code, params = await sent(env)
    outcome = await env.run(CHECK, code=f" {code[:3]} {code[3:]} ", **params)
    assert outcome.ok


async def test_hash_is_bound_to_the_phone(env: Env) -> None:
    code, params = await sent(env)
    env.phone = "+12025550144"
    outcome = await env.run(CHECK, code=code, **params)
    assert result(outcome) == (False, "wrong_code")


async def test_wrong_codes_up_to_the_bound_then_locked(env: Env) -> None:
    assert env.settings.verify_max_tries == 3
    code, params = await sent(env)
    seen = []
    for _ in range(3):
        outcome = await env.run(CHECK, code=other(code), **params)
        seen.append((outcome.reason, outcome.data["verify_tries"],
                     outcome.data["verify_tries_left"]))
        params["tries"] = str(outcome.data["verify_tries"])
    assert seen == [("wrong_code", 1, 2), ("wrong_code", 2, 1), ("locked", 3, 0)]
    # Locked: even the right code is refused now.
    outcome = await env.run(CHECK, code=code, **params)
    assert result(outcome) == (False, "locked")
    assert outcome.data["verify_tries"] == 3


async def test_the_bound_comes_from_settings(env: Env) -> None:
    env.configure(verify_max_tries=1)
    code, params = await sent(env)
    outcome = await env.run(CHECK, code=other(code), **params)
    assert result(outcome) == (False, "locked")


async def test_expired_code(env: Env) -> None:
    code, params = await sent(env)
    env.now = NOW + 600  # the last second it is valid
    assert (await env.run(CHECK, code=code, **params)).ok
    env.now = NOW + 601
    outcome = await env.run(CHECK, code=code, **params)
    assert result(outcome) == (False, "expired")
    assert "verify_tries" not in outcome.data


async def test_no_code_outstanding_is_expired(env: Env) -> None:
    outcome = await env.run(CHECK, code="123456")
    assert result(outcome) == (False, "expired")
    code, params = await sent(env)
    outcome = await env.run(CHECK, code=code, **(params | {"expires": ""}))
    assert result(outcome) == (False, "expired")


async def test_code_is_a_required_param(env: Env) -> None:
    with pytest.raises(ValueError, match="code"):
        await env.run(CHECK, hash="x")


# --- wevote ------------------------------------------------------------------------------
async def test_wevote_checks_the_code_with_wevote(env: Env) -> None:
    env.configure(verify_provider="wevote")
    code, params = await sent(env)
    env.sandbox.log.clear()
    outcome = await env.run(CHECK, code=code, **params)
    assert result(outcome) == (True, None)
    assert outcome.data["verified"] is True
    assert env.calls() == ["GET /wevote/voterVerifySecretCode/"]
    query = env.sandbox.log.last("wevote").query
    assert query["secret_code"] == code
    assert query["code_sent_to_sms_phone_number"] == "true"
    assert query["voter_device_id"] == params["device"]
    assert env.sandbox.wevote.sms_rows[0]["verified"] is True


async def test_wevote_wrong_codes_up_to_the_bound(env: Env) -> None:
    env.configure(verify_provider="wevote")
    code, params = await sent(env)
    reasons = []
    for _ in range(3):
        outcome = await env.run(CHECK, code=other(code), **params)
        reasons.append(outcome.reason)
        params["tries"] = str(outcome.data["verify_tries"])
    assert reasons == ["wrong_code", "wrong_code", "locked"]
    assert env.calls().count("GET /wevote/voterVerifySecretCode/") == 3
    env.sandbox.log.clear()
    assert result(await env.run(CHECK, code=code, **params)) == (False, "locked")
    assert env.sandbox.log == []  # locked locally: WeVote is not asked again


async def test_wevote_spent_code_is_expired(env: Env) -> None:
    env.configure(verify_provider="wevote")
    code, params = await sent(env)
    assert (await env.run(CHECK, code=code, **params)).ok
    # A code is single-use at WeVote: checking it again finds no code.
    assert result(await env.run(CHECK, code=code, **params)) == (False, "expired")


async def test_wevote_unclear_check_is_not_retried(env: Env) -> None:
    env.configure(verify_provider="wevote", upstream_timeout=LOOKUP_TIMEOUT)
    code, params = await sent(env)
    env.sandbox.log.clear()
    env.sandbox.wevote.fail_next["GET /voterVerifySecretCode/"] = ["timeout"]
    outcome = await env.run(CHECK, code=code, **params)
    assert result(outcome) == (False, "unavailable")
    assert env.calls() == ["GET /wevote/voterVerifySecretCode/",
                           "GET /wevote/voterSMSPhoneNumberRetrieve/"]


async def test_wevote_unclear_check_that_did_verify_is_found(env: Env) -> None:
    env.configure(verify_provider="wevote", upstream_timeout=LOOKUP_TIMEOUT)
    code, params = await sent(env)
    assert (await env.run(CHECK, code=code, **params)).ok  # verified at WeVote...
    env.sandbox.wevote.fail_next["GET /voterVerifySecretCode/"] = ["timeout"]
    outcome = await env.run(CHECK, code=code, **params)  # ...and the answer is lost
    assert result(outcome) == (True, None)


async def test_wevote_unavailable_is_left_to_the_worker(env: Env) -> None:
    env.configure(verify_provider="wevote")
    code, params = await sent(env)
    env.sandbox.wevote.fail_next["GET /voterVerifySecretCode/"] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(CHECK, code=code, **params)


async def test_wevote_locked_device(env: Env) -> None:
    env.configure(verify_provider="wevote")
    code, params = await sent(env)
    env.sandbox.wevote.devices[params["device"]].failures_total = 26
    assert result(await env.run(CHECK, code=code, **params)) == (False, "locked")
