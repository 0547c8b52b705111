"""The upstream fault matrix: its counting rules, its sandbox switches, and (integration)
one real run of the Quorum rows."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from bot.dead import DeadLetter
from bot.faults.matrix import FAULTS, LOOKUP_MISSED, UPSTREAMS, Tally, count, kinds, row_phones
from bot.faults.run import main
from bot.faults.sandbox import create_app
from bot.models import RunAction
from bot.phone import region_of, to_e164
from bot.sandbox import credentials as cred

A, B = "+13012000001", "+13012000002"
P2A = UPSTREAMS["p2a"]
TWILIO = UPSTREAMS["twilio"]


def letter(phone: str, *, unknown: bool) -> DeadLetter:
    effect = RunAction(id=f"e-{phone}", phone=phone, action="p2a_call", params={})
    return DeadLetter(id="0-1-0", effect=effect, reason="x", unknown=unknown, at=0.0)


def found(**kinds_: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    empty: dict[str, dict[str, list[str]]] = {
        k: {} for k in ("texts", "codes", "subscriptions", "calls", "faults_left")}
    return empty | kinds_


def test_one_call_each_passes() -> None:
    tally = count(P2A, [A, B], found(calls={A: ["1"], B: ["2"]}), [], {})
    assert (tally.once, tally.twice, tally.ok) == (2, 0, True)


def test_a_call_started_twice_fails() -> None:
    tally = count(P2A, [A, B], found(calls={A: ["1", "1"], B: ["2"]}), [], {})
    assert tally.twice == 1 and not tally.ok


def test_a_give_up_missing_from_the_dead_letters_fails() -> None:
    tally = count(P2A, [A, B], found(calls={A: ["1"]}), [], {})
    assert not tally.ok and "not done and not dead-lettered" in tally.problems[0]
    tally = count(P2A, [A, B], found(calls={A: ["1"]}), [letter(B, unknown=False)], {})
    assert tally.ok and (tally.dead, tally.unknown) == (1, 0)


def test_an_effect_that_happened_must_not_be_dead_lettered_as_failed() -> None:
    done = found(calls={A: ["1"], B: ["2"]})
    assert not count(P2A, [A, B], done, [letter(B, unknown=False)], {}).ok
    tally = count(P2A, [A, B], done, [letter(B, unknown=True)], {})
    assert tally.ok and tally.unknown == 1


def test_a_claim_without_its_effect_fails_and_only_texts_after_the_trigger_count() -> None:
    ring = "Your phone will ring now to connect you with Sen. A."
    lied = found(texts={A: ["menu", ring]})
    assert not count(P2A, [A], lied, [letter(A, unknown=True)], {A: 1}).ok
    assert count(P2A, [A], lied, [letter(A, unknown=True)], {A: 2}).ok  # said before


def test_texts_count_only_the_bodies_that_are_the_effect() -> None:
    sent = found(texts={A: ["civictext: Reply YES to get advocacy alerts...", "HELP text"]})
    assert count(TWILIO, [A], sent, [], {}).once == 1


def test_each_row_breaks_one_call_per_phone_and_the_timeout_row_mixes_done_and_not() -> None:
    assert kinds(P2A, FAULTS[0], 3) == ["500"] * 3
    assert kinds(UPSTREAMS["whatcounts"], FAULTS[0], 2) == ["server-error"] * 2
    assert kinds(P2A, FAULTS[1], 2) == ["429", "429"]
    assert kinds(P2A, FAULTS[2], 3) == ["late", "timeout", "late"]


def test_p2a_alone_has_the_row_where_its_lookup_misses_the_call_and_is_replayed() -> None:
    assert P2A.faults == (*FAULTS, LOOKUP_MISSED) and P2A.replay
    assert kinds(P2A, LOOKUP_MISSED, 2) == ["lost", "lost"]  # done, answer lost
    assert all(u.faults == FAULTS for name, u in UPSTREAMS.items() if name != "p2a")
    tally = Tally(effects=2, once=2)
    tally.replays.update(["already_called", "already_called"])
    assert tally.result("call started").endswith("; replayed: 2 already_called")


def test_row_phones_are_new_valid_us_numbers() -> None:
    numbers = row_phones(301, 5)
    assert len(set(numbers)) == 5 and not any(n.endswith("0000") for n in numbers)
    assert all(to_e164(n) == n and region_of(n) == "US" for n in numbers)


async def test_the_fault_sandbox_switches_a_route_and_reports_effects(
        aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(0.0))
    order = {"service": "quorum", "route": "POST /sendsms/send_individual_sms/",
             "kinds": ["429"], "retry_after": "1", "hang_seconds": 2}
    assert (await client.post("/_faults/fail", json=order)).status == 200
    effects = await (await client.get("/_faults/effects")).json()
    assert effects["faults_left"]["quorum"] == ["429"]
    url = (f"/quorum/sendsms/send_individual_sms/?username={cred.QUORUM_USERNAME}"
           f"&api_key={cred.QUORUM_API_KEY}")
    answer = await client.post(url, json={"supporter_id": 1, "message": "hi"})
    assert answer.status == 429 and answer.headers["Retry-After"] == "1"
    effects = await (await client.get("/_faults/effects")).json()
    assert effects["faults_left"]["quorum"] == [] and effects["texts"] == {}


async def test_the_fault_sandbox_counts_the_codes_wevote_texted_and_breaks_its_save(
        aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(0.0))
    route = UPSTREAMS["wevote"].route
    order = {"service": "wevote", "route": route, "kinds": ["500"]}
    assert (await client.post("/_faults/fail", json=order)).status == 200
    device = (await (await client.get("/wevote/deviceIdGenerate/")).json())["voter_device_id"]
    assert (await client.get("/wevote/voterCreate/", params={"voter_device_id": device})).ok
    save = {"voter_device_id": device, "sms_phone_number": A, "send_sign_in_code_sms": "true"}
    assert (await client.get("/wevote/voterSMSPhoneNumberSave/", params=save)).status == 500
    effects = await (await client.get("/_faults/effects")).json()
    assert effects["codes"] == {} and effects["faults_left"]["wevote"] == []
    answer = await (await client.get("/wevote/voterSMSPhoneNumberSave/", params=save)).json()
    assert answer["sign_in_code_sms_sent"] is True
    effects = await (await client.get("/_faults/effects")).json()
    assert [len(code) for code in effects["codes"][A]] == [6]


def test_the_wevote_rows_count_codes_and_forbid_claiming_one() -> None:
    wevote = UPSTREAMS["wevote"]
    claimed = found(texts={A: ["We sent you a code to confirm this number."]})
    assert not count(wevote, [A], claimed, [letter(A, unknown=True)], {}).ok
    maybe = found(texts={A: ["We asked for a code to be texted to you, but could not..."]})
    assert count(wevote, [A], maybe, [letter(A, unknown=True)], {}).ok
    assert count(wevote, [A], found(codes={A: ["123456"]}), [], {}).once == 1


@pytest.mark.integration
def test_the_wevote_rows_run_and_pass() -> None:
    out = io.StringIO()
    # base..base+15, below test_faults' block and the cluster tests' (CLUSTER_BASE_PORT,
    # 18700 up, kept for the whole session by the worker that runs this group)
    base = int(os.environ.get("FAULTS_PORT_BASE", "18670")) - 80
    status = main(True, ["upstreams-wevote"], base, out)
    assert status == 0, out.getvalue()
    assert out.getvalue().count("| WeVote: ") == 3


@pytest.mark.integration
def test_the_quorum_rows_run_and_pass() -> None:
    out = io.StringIO()
    base = int(os.environ.get("FAULTS_PORT_BASE", "18670")) - 40  # as above
    status = main(True, ["upstreams-quorum"], base, out)
    assert status == 0, out.getvalue()
    assert out.getvalue().count("| Quorum: ") == 3
