"""TeleSign Messaging's lookup contract against the local sandbox: our `external_id` goes
out with the send and comes back in the answer and the status read; `GET
/v1/messaging/{reference_id}` answers TeleSign's documented errors; and `bot.lookup` finds
an unanswered send only through the reference id a delivery report gave us."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from bot.lookup import sent_upstream
from bot.sandbox import Sandbox
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams
from bot.upstream.errors import (
    UpstreamAuthFailed,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.upstream.telesign import TeleSignClient

PHONE = "+12025550100"
STATUS = "GET /v1/messaging/{reference_id}"


class Reports:
    """What delivery reports told us: effect id -> TeleSign reference id."""

    def __init__(self, known: dict[str, str] | None = None) -> None:
        self.known = known or {}

    async def reference_of(self, provider: str, external_id: str) -> str | None:
        assert provider == "telesign"
        return self.known.get(external_id)


async def test_the_external_id_goes_out_and_comes_back(upstreams: Upstreams,
                                                       sandbox: Sandbox) -> None:
    sent = await upstreams.telesign.send_sms(PHONE, "Hello", external_id="fx-1")
    assert sandbox.log.last().body["external_id"] == "fx-1"
    found = await upstreams.telesign.message_status(sent.reference_id)
    assert found is not None and found.external_id == "fx-1"
    assert (found.reference_id, found.status.code) == (sent.reference_id, 200)


async def test_a_reference_id_telesign_never_issued_is_none(upstreams: Upstreams,
                                                           sandbox: Sandbox) -> None:
    assert await upstreams.telesign.message_status("F" * 32) is None
    assert sandbox.log == ["GET /telesign/v1/messaging/" + "F" * 32]


async def test_an_external_id_too_long_for_the_sandbox_is_refused(upstreams: Upstreams) -> None:
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.telesign.send_sms(PHONE, "Hello", external_id="x" * 101)
    assert (info.value.status, info.value.code) == (400, -10001)


@pytest.mark.parametrize(("kind", "error", "code"), [
    pytest.param(503, UpstreamUnavailable, -90001, id="unavailable"),
    pytest.param(429, UpstreamRateLimited, -40007, id="rate-limited"),
])
async def test_documented_errors_of_the_status_read(
        upstreams: Upstreams, sandbox: Sandbox, kind: int, error: type[Exception],
        code: int) -> None:
    sent = await upstreams.telesign.send_sms(PHONE, "Hello", external_id="fx-1")
    sandbox.telesign.fail_next[STATUS] = [kind]
    sandbox.telesign.retry_after = "2"
    with pytest.raises(error) as info:
        await upstreams.telesign.message_status(sent.reference_id)
    assert info.value.code == code  # type: ignore[attr-defined]
    if error is UpstreamRateLimited:
        assert info.value.retry_after == 2.0  # type: ignore[attr-defined]
    assert await upstreams.telesign.message_status(sent.reference_id) is not None


async def test_bad_credentials_on_the_status_read(http: aiohttp.ClientSession,
                                                  sandbox_root: str) -> None:
    wrong = base64.b64encode(b"not the sandbox key").decode()
    client = TeleSignClient(http, sandbox_root + "/telesign", cred.TELESIGN_CUSTOMER_ID, wrong)
    with pytest.raises(UpstreamAuthFailed) as info:
        await client.message_status("F" * 32)
    assert (info.value.status, info.value.code) == (401, -30006)


async def test_no_report_yet_is_unknown_and_nothing_is_asked(upstreams: Upstreams,
                                                            sandbox: Sandbox) -> None:
    await upstreams.telesign.send_sms(PHONE, "Hello", external_id="fx-1")
    sandbox.log.clear()
    assert await sent_upstream(upstreams, "telesign", PHONE, "Hello", 0,
                               effect_id="fx-1", reports=Reports()) is None
    assert await sent_upstream(upstreams, "telesign", PHONE, "Hello", 0) is None
    assert sandbox.log == []


async def test_a_reported_send_is_found_at_telesign(upstreams: Upstreams,
                                                    sandbox: Sandbox) -> None:
    sent = await upstreams.telesign.send_sms(PHONE, "Hello", external_id="fx-1")
    reports = Reports({"fx-1": sent.reference_id})
    assert await sent_upstream(upstreams, "telesign", PHONE, "Hello", 0,
                               effect_id="fx-1", reports=reports) is True


async def test_a_report_telesign_does_not_confirm_proves_nothing(upstreams: Upstreams) -> None:
    other = await upstreams.telesign.send_sms(PHONE, "Hello", external_id="fx-2")
    for reference in ("F" * 32, other.reference_id):  # unknown there; someone else's
        reports = Reports({"fx-1": reference})
        assert await sent_upstream(upstreams, "telesign", PHONE, "Hello", 0,
                                   effect_id="fx-1", reports=reports) is None
