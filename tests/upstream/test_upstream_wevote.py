"""WeVote client against its sandbox: device and voter, sign-in code, verification."""

from __future__ import annotations

import pytest

from bot.sandbox import Sandbox
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams
from bot.upstream.errors import OutcomeUnknown, UpstreamRejected, UpstreamUnavailable
from bot.upstream.wevote import has_status

PHONE = "+12025550100"


async def test_new_voter_sequence(upstreams: Upstreams, sandbox: Sandbox) -> None:
    voter = await upstreams.wevote.new_voter()
    assert voter.status == "VOTER_CREATED" and len(voter.voter_device_id) == 88
    assert sandbox.log == ["GET /wevote/deviceIdGenerate/", "GET /wevote/voterCreate/"]
    assert sandbox.log.last().query["voter_device_id"] == voter.voter_device_id
    assert sandbox.log.last().query["api_key"] == cred.WEVOTE_API_KEY
    again = await upstreams.wevote.create_voter(voter.voter_device_id)
    assert again.status == "VOTER_ALREADY_EXISTS" and again.voter_id == voter.voter_id


async def test_code_sent_resent_without_duplicate_rows_and_verified(
    upstreams: Upstreams, sandbox: Sandbox
) -> None:
    device = (await upstreams.wevote.new_voter()).voter_device_id
    first = await upstreams.wevote.send_sign_in_code(device, PHONE, idempotency_key="eff-1")
    assert has_status(first.status, "SMS_PHONE_NUMBER_FOR_VOTER_CREATED")
    assert has_status(first.status, "SENT_VIA_TWILIO")
    assert sandbox.log.last().query == {
        "voter_device_id": device,
        "send_sign_in_code_sms": "true",
        "sms_phone_number": PHONE,
        "api_key": cred.WEVOTE_API_KEY,
    }
    code = sandbox.wevote.last_code[PHONE]
    resent = await upstreams.wevote.send_sign_in_code(
        device, PHONE, sms_we_vote_id=first.sms_we_vote_id
    )
    assert "sms_phone_number" not in sandbox.log.last().query
    assert sandbox.log.last().query["sms_we_vote_id"] == first.sms_we_vote_id
    assert len(sandbox.wevote.sms_rows) == 1 and resent.sms_we_vote_id == first.sms_we_vote_id
    assert sandbox.wevote.codes_sent == [(PHONE, code), (PHONE, code)]  # same code in the day

    wrong = await upstreams.wevote.verify_code(device, "000000" if code != "000000" else "1")
    assert not wrong.secret_code_verified and wrong.incorrect_secret_code_entered
    assert wrong.number_of_tries_remaining_for_this_code == 4
    right = await upstreams.wevote.verify_code(device, code)
    assert right.secret_code_verified and has_status(right.status, "VALID_SECRET_CODE_FOUND")
    assert sandbox.log.last().query["code_sent_to_sms_phone_number"] == "true"
    spent = await upstreams.wevote.verify_code(device, code)  # single use
    assert not spent.secret_code_verified
    rows = await upstreams.wevote.phone_numbers(device)
    assert [(r.normalized_sms_phone_number, r.sms_ownership_is_verified) for r in rows] == [
        ("+1 202-555-0100", True)
    ]


async def test_without_sms_we_vote_id_every_save_adds_a_row(
    upstreams: Upstreams, sandbox: Sandbox
) -> None:
    device = (await upstreams.wevote.new_voter()).voter_device_id
    await upstreams.wevote.send_sign_in_code(device, PHONE)
    await upstreams.wevote.send_sign_in_code(device, PHONE)
    assert len(sandbox.wevote.sms_rows) == 2  # WeVote's real behaviour
    assert len(await upstreams.wevote.phone_numbers(device)) == 1  # retrieve merges them


async def test_five_wrong_codes_require_a_new_one(upstreams: Upstreams, sandbox: Sandbox) -> None:
    device = (await upstreams.wevote.new_voter()).voter_device_id
    await upstreams.wevote.send_sign_in_code(device, PHONE)
    wrong = "1" if sandbox.wevote.last_code[PHONE] != "111111" else "2"
    results = [await upstreams.wevote.verify_code(device, wrong) for _ in range(6)]
    assert results[4].voter_must_request_new_code
    assert has_status(results[5].status, "THIS_CODE_HAS_EXCEEDED_ALLOWED_TRIES")


async def test_bypass_number_gets_the_fixed_code(upstreams: Upstreams, sandbox: Sandbox) -> None:
    device = (await upstreams.wevote.new_voter()).voter_device_id
    await upstreams.wevote.send_sign_in_code(device, "+18089358555")
    assert sandbox.wevote.last_code["+18089358555"] == "123456"
    assert (await upstreams.wevote.verify_code(device, "123456")).secret_code_verified


@pytest.mark.parametrize(
    ("device", "phone", "token"),
    [
        pytest.param("short", PHONE, "VALID_VOTER_DEVICE_ID_MISSING", id="bad-device"),
        pytest.param("x" * 88, PHONE, "VOTER_NOT_FOUND_FROM_VOTER_DEVICE_ID", id="no-voter"),
        pytest.param(None, "+442071838750", "SENDING_VIA_TWILIO_INVALID_TO_NUMBER", id="non-nanp"),
    ],
)
async def test_success_false_is_rejected(
    upstreams: Upstreams, device: str | None, phone: str, token: str
) -> None:
    device = device or (await upstreams.wevote.new_voter()).voter_device_id
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.wevote.send_sign_in_code(device, phone)
    assert token in info.value.detail
    assert info.value.status is None  # WeVote said it with HTTP 200


async def test_verify_with_an_unknown_device_is_rejected(upstreams: Upstreams) -> None:
    with pytest.raises(UpstreamRejected):
        await upstreams.wevote.verify_code("y" * 88, "123456")


async def test_twilio_failure_inside_wevote(upstreams: Upstreams, sandbox: Sandbox) -> None:
    device = (await upstreams.wevote.new_voter()).voter_device_id
    sandbox.wevote.fail_next["GET /voterSMSPhoneNumberSave/"] = ["twilio"]
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.wevote.send_sign_in_code(device, PHONE)
    assert "TWILIO_ERROR_21211" in info.value.detail


@pytest.mark.parametrize(
    ("kind", "error"),
    [(503, UpstreamUnavailable), (500, OutcomeUnknown), ("timeout", OutcomeUnknown)],
)
async def test_send_failures(
    upstreams: Upstreams, hasty: Upstreams, sandbox: Sandbox, kind: int | str,
    error: type[Exception]
) -> None:
    device = (await upstreams.wevote.new_voter()).voter_device_id
    sandbox.wevote.fail_next["GET /voterSMSPhoneNumberSave/"] = [kind]
    failing = hasty if kind == "timeout" else upstreams
    with pytest.raises(error):
        await failing.wevote.send_sign_in_code(device, PHONE)
    assert PHONE not in sandbox.wevote.last_code


async def test_idempotent_reads_are_retryable(upstreams: Upstreams, hasty: Upstreams,
                                              sandbox: Sandbox) -> None:
    sandbox.wevote.fail_next["GET /deviceIdGenerate/"] = [500, "timeout"]
    for client in (upstreams, hasty):  # the 500, then the timeout
        with pytest.raises(UpstreamUnavailable):
            await client.wevote.generate_device_id()
    assert len(await upstreams.wevote.generate_device_id()) == 88
