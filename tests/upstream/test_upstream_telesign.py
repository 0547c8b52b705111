"""TeleSign client against its sandbox: Verify SMS, code checks, Messaging, every error."""

from __future__ import annotations

import base64
from email.utils import formatdate

import aiohttp
import pytest

from bot.sandbox import Sandbox
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams
from bot.upstream.errors import (
    OutcomeUnknown,
    UpstreamAuthFailed,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.upstream.telesign import TeleSignClient
from bot.upstream.telesign_auth import rest_headers
from bot.upstream.telesign_models import StatusMeaning

PHONE = "+12025550100"


async def test_send_our_own_code_then_check_it(upstreams: Upstreams, sandbox: Sandbox) -> None:
    sent = await upstreams.telesign.send_verify_sms(
        PHONE, verify_code="482915", idempotency_key="eff-1"
    )
    assert sent.outcome is StatusMeaning.IN_PROGRESS and sent.status_code == 290
    assert sent.verify_code == "482915"
    check = await upstreams.telesign.check_code(sent.reference_id, "482915")
    assert check.valid and check.code_state == "VALID"
    assert sandbox.log == [
        "POST /telesign/v1/verify/sms",
        f"GET /telesign/v1/verify/{sent.reference_id}",
    ]
    post, get = sandbox.log.requests
    assert post.body == {"phone_number": "12025550100", "verify_code": "482915"}
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.headers["Authorization"].startswith(f"TSA {cred.TELESIGN_CUSTOMER_ID}:")
    assert get.query == {"verify_code": "482915"}
    assert post.headers["x-ts-nonce"] != get.headers["x-ts-nonce"]


async def test_telesign_generated_code(upstreams: Upstreams, sandbox: Sandbox) -> None:
    sent = await upstreams.telesign.send_verify_sms(PHONE)
    assert sent.verify_code is None
    code = sandbox.telesign.last_code["12025550100"]
    assert len(code) == 7
    assert "verify_code" not in sandbox.log.last().body
    wrong = await upstreams.telesign.check_code(sent.reference_id, "0000000")
    assert wrong.code_state == "INVALID" and not wrong.valid
    assert (await upstreams.telesign.check_code(sent.reference_id, code)).valid


async def test_attempts_run_out(upstreams: Upstreams) -> None:
    sent = await upstreams.telesign.send_verify_sms(PHONE, verify_code="1234")
    states = [
        (await upstreams.telesign.check_code(sent.reference_id, "9999")).code_state
        for _ in range(4)
    ]
    assert states == ["INVALID", "INVALID", "INVALID", "MAX_ATTEMPTS_EXCEEDED"]


async def test_status_lookup_spends_no_attempt(upstreams: Upstreams, sandbox: Sandbox) -> None:
    sent = await upstreams.telesign.send_verify_sms(PHONE, verify_code="1234")
    status = await upstreams.telesign.verify_status(sent.reference_id)
    assert status.reference_id == sent.reference_id
    assert sandbox.log.last().query == {}
    assert sandbox.telesign.transactions[sent.reference_id]["attempts"] == 0


async def test_unknown_reference_is_rejected(upstreams: Upstreams) -> None:
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.telesign.check_code("F" * 32, "1234")
    assert info.value.status == 404 and info.value.code == -10001


async def test_plain_sms(upstreams: Upstreams, sandbox: Sandbox) -> None:
    sent = await upstreams.telesign.send_sms(PHONE, "Thanks for joining. Reply STOP to end.")
    assert sent.outcome is StatusMeaning.IN_PROGRESS
    assert sandbox.log == ["POST /telesign/v1/messaging"]
    assert sandbox.log.last().body == {
        "phone_number": "12025550100",
        "message": "Thanks for joining. Reply STOP to end.",
        "message_type": "ARN",
    }
    assert sandbox.telesign.messages[0]["reference_id"] == sent.reference_id


async def test_unicode_body_is_signed_exactly_as_sent(upstreams: Upstreams) -> None:
    sent = await upstreams.telesign.send_sms(PHONE, "¡Gracias! Responde ALTO para salir ✓")
    assert sent.reference_id


async def test_wrong_api_key_gives_invalid_signature(
    http: aiohttp.ClientSession, sandbox_root: str
) -> None:
    wrong = base64.b64encode(b"not the sandbox key").decode()
    client = TeleSignClient(http, sandbox_root + "/telesign", cred.TELESIGN_CUSTOMER_ID, wrong)
    with pytest.raises(UpstreamAuthFailed) as info:
        await client.send_verify_sms(PHONE, verify_code="1234")
    assert info.value.status == 401 and info.value.code == -30006


async def test_unknown_customer_id(http: aiohttp.ClientSession, sandbox_root: str) -> None:
    client = TeleSignClient(http, sandbox_root + "/telesign", "nobody", cred.TELESIGN_API_KEY)
    with pytest.raises(UpstreamAuthFailed) as info:
        await client.send_sms(PHONE, "hi")
    assert info.value.code == -30000


async def _raw_post(
    http: aiohttp.ClientSession, root: str, headers: dict[str, str]
) -> dict[str, object]:
    async with http.post(
        root + "/telesign/v1/messaging",
        data=b"phone_number=12025550100&message=hi&message_type=ARN",
        headers=headers,
    ) as resp:
        assert resp.status == 401
        body: dict[str, object] = await resp.json()
        return body


async def test_sandbox_refuses_a_reused_nonce(
    http: aiohttp.ClientSession, sandbox_root: str, sandbox: Sandbox
) -> None:
    body = "phone_number=12025550100&message=hi&message_type=ARN"
    headers = rest_headers(
        cred.TELESIGN_CUSTOMER_ID,
        cred.TELESIGN_API_KEY,
        "POST",
        "/v1/messaging",
        body,
        nonce="11111111-2222-3333-4444-555555555555",
    )
    async with http.post(
        sandbox_root + "/telesign/v1/messaging", data=body.encode(), headers=headers
    ) as resp:
        assert resp.status == 200
    answer = await _raw_post(http, sandbox_root, headers)
    assert answer["errors"] == [
        {"code": -30012, "description": "'x-ts-nonce' header value has been used recently"}
    ]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, -30004, id="no-authorization"),
        pytest.param({"Authorization": "Bearer x"}, -30005, id="malformed"),
        pytest.param({"Date": "Wed, 14 Dec 2016 18:20:12 GMT"}, -30010, id="stale-date"),
        pytest.param({"Date": "yesterday"}, -30009, id="not-rfc822"),
        pytest.param({"x-ts-nonce": "short"}, -30011, id="nonce-length"),
        pytest.param({"x-ts-auth-method": "MD5"}, -30008, id="auth-method"),
    ],
)
async def test_sandbox_auth_errors(
    http: aiohttp.ClientSession, sandbox_root: str, headers: dict[str, str], code: int
) -> None:
    body = "phone_number=12025550100&message=hi&message_type=ARN"
    signed = rest_headers(
        cred.TELESIGN_CUSTOMER_ID,
        cred.TELESIGN_API_KEY,
        "POST",
        "/v1/messaging",
        body,
        date=formatdate(usegmt=True),
    )
    merged = {} if not headers else signed | headers
    answer = await _raw_post(http, sandbox_root, merged)
    assert [e["code"] for e in answer["errors"]] == [code]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "error", "status", "code"),
    [
        pytest.param(503, UpstreamUnavailable, 503, -90001, id="unavailable-not-attempted"),
        pytest.param(500, UpstreamUnavailable, 500, -90001, id="5xx-not-attempted"),
        pytest.param(429, UpstreamRateLimited, 429, -40007, id="rate-limited"),
        pytest.param("hardcap", UpstreamRejected, 429, -40008, id="hard-cap"),
        pytest.param("invalid", UpstreamRejected, 400, -10001, id="invalid-request"),
    ],
)
async def test_documented_errors_of_a_send(
    upstreams: Upstreams,
    sandbox: Sandbox,
    *,
    kind: int | str,
    error: type[Exception],
    status: int,
    code: int,
) -> None:
    sandbox.telesign.fail_next["POST /v1/verify/sms"] = [kind]
    with pytest.raises(error) as info:
        await upstreams.telesign.send_verify_sms(PHONE, verify_code="1234")
    assert (info.value.status, info.value.code) == (status, code)  # type: ignore[attr-defined]
    assert not isinstance(info.value, OutcomeUnknown)
    retry = await upstreams.telesign.send_verify_sms(PHONE, verify_code="1234")
    assert retry.outcome is StatusMeaning.IN_PROGRESS  # fail_next is spent: the next call works


async def test_magic_phone_gives_503(upstreams: Upstreams) -> None:
    with pytest.raises(UpstreamUnavailable):
        await upstreams.telesign.send_sms("+15005550503", "hello")


async def test_timeout_of_a_send_is_outcome_unknown(hasty: Upstreams, sandbox: Sandbox) -> None:
    sandbox.telesign.fail_next["POST /v1/verify/sms"] = ["timeout"]
    with pytest.raises(OutcomeUnknown) as info:
        await hasty.telesign.send_verify_sms(PHONE, verify_code="1234")
    assert not isinstance(info.value, UpstreamUnavailable)


async def test_timeout_of_a_code_check_is_outcome_unknown(
    upstreams: Upstreams, hasty: Upstreams, sandbox: Sandbox
) -> None:
    sent = await upstreams.telesign.send_verify_sms(PHONE, verify_code="1234")
    sandbox.telesign.fail_next["GET /v1/verify/{reference_id}"] = ["timeout", "timeout"]
    with pytest.raises(OutcomeUnknown):
        await hasty.telesign.check_code(sent.reference_id, "1234")
    with pytest.raises(UpstreamUnavailable):  # the status read is idempotent
        await hasty.telesign.verify_status(sent.reference_id)
