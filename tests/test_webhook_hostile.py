"""Hostile and odd webhook requests: never a 5xx, signatures over every URL form Twilio
uses, aiohttp's own log lines masked, one duplicate counted once."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.faults.fuzz import Keys, fuzz
from bot.logs import stdlib_handler
from tests.apphelpers import build_bot, new_sid, text
from tests.conftest import make_settings, twilio_signer
from tests.threadserver import serve_in_thread

PHONE = "+15555550100"
TOKEN = "twilio-token-for-hostile-tests"
TS_CUSTOMER = "CUST-0001"
TS_KEY = base64.b64encode(b"telesign-secret-key-for-tests").decode()
AnyClient = TestClient[Any, Any]


def _signed_settings(**more: Any) -> Any:
    return make_settings(twilio_auth_token=TOKEN, telesign_customer_id=TS_CUSTOMER,
                         telesign_api_key=TS_KEY,
                         # never called (local codes, memory sender), never the public API
                         telesign_api_base="http://127.0.0.1:9/telesign", **more)


@pytest.mark.parametrize("charset", ["bogus", "x" * 300, "rot13", "base64"])
@pytest.mark.parametrize("path", ["/webhooks/twilio/sms", "/webhooks/twilio/status"])
@pytest.mark.parametrize("signed", [True, False])
async def test_unknown_charset_is_400_signed_or_not(aiohttp_client: Any, charset: str,
                                                    path: str, signed: bool) -> None:
    bot = build_bot(_signed_settings() if signed else make_settings())
    client = await aiohttp_client(bot.app)
    resp = await client.post(path, data=b"From=%2B15555550100&MessageSid=SM1&Body=hi",
                             headers={"Content-Type": "application/x-www-form-urlencoded; "
                                                      f"charset={charset}"})
    assert resp.status == 400
    assert "unreadable" in (await resp.json())["reason"]


@pytest.mark.parametrize("body", [b"\xff\xfe\x00", b"From=%2B1555&Body=\xc3\x28"])
async def test_undecodable_form_is_400(aiohttp_client: Any, body: bytes) -> None:
    client = await aiohttp_client(build_bot(make_settings()).app)
    resp = await client.post("/webhooks/twilio/sms", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 400


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1]", b'"\\ud800"', b"{" * 5000,
                                  b'{"reference_id": {"a": []}}'])
async def test_unreadable_telesign_json_is_400(aiohttp_client: Any, body: bytes) -> None:
    client = await aiohttp_client(build_bot(make_settings()).app)
    resp = await client.post("/webhooks/telesign/sms", data=body, headers={
        "Content-Type": "application/json; charset=bogus"})
    assert resp.status == 400


@pytest.mark.parametrize(("public", "signed_over", "status"), [
    ("https://sms.example.org", "https://sms.example.org:443", 200),
    ("https://sms.example.org:443", "https://sms.example.org", 200),
    ("http://sms.example.org", "http://sms.example.org:80", 200),
    ("https://sms.example.org", "https://sms.example.org:8443", 403),
])
async def test_twilio_signature_over_either_port_form(aiohttp_client: Any, public: str,
                                                      signed_over: str, status: int) -> None:
    bot = build_bot(make_settings(twilio_auth_token=TOKEN, public_base_url=public))
    client = await aiohttp_client(bot.app)
    form = {"MessageSid": new_sid(), "From": PHONE, "To": "+15555550199", "Body": "JOIN"}
    signature = twilio_signer(TOKEN)(f"{signed_over}/webhooks/twilio/sms", form)
    resp = await client.post("/webhooks/twilio/sms", data=form,
                             headers={"X-Twilio-Signature": signature})
    assert resp.status == status


async def test_aiohttp_parser_errors_are_logged_masked(aiohttp_server: Any) -> None:
    server = await aiohttp_server(build_bot(make_settings()).app)
    buffer = io.StringIO()
    handler = stdlib_handler(buffer)
    aiohttp_log = logging.getLogger("aiohttp.server")
    aiohttp_log.addHandler(handler)
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST /webhooks/twilio/sms HTTP/1.1\r\nHost: a\r\n"
                     b"X-From: +15551234567\x01\r\n\r\n")
        await writer.drain()
        assert (await reader.read(64)).startswith(b"HTTP/1.0 400")
        writer.close()
    finally:
        aiohttp_log.removeHandler(handler)
    out = buffer.getvalue()
    assert "Invalid header value char" in out  # the parser's own record, traceback and all
    assert "+1******4567" in out and "5551234567" not in out


def test_access_log_lines_are_masked() -> None:
    buffer = io.StringIO()
    access = logging.getLogger("aiohttp.access")
    handler = stdlib_handler(buffer, json_lines=True)
    access.addHandler(handler)
    old_level = access.level
    access.setLevel(logging.INFO)
    try:
        access.info('127.0.0.1 "POST /webhooks/twilio/sms?From=+12025550123 HTTP/1.1" 200')
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
    assert "2025550123" not in buffer.getvalue() and "+1******0123" in buffer.getvalue()


async def test_a_duplicate_is_counted_once_in_metrics(aiohttp_client: Any) -> None:
    client = await aiohttp_client(build_bot(make_settings()).app)
    sid = new_sid()
    for _ in range(2):
        assert (await text(client, "JOIN", sid=sid)).status == 200
    metrics = await (await client.get("/metrics")).text()
    lines = [line for line in metrics.splitlines()
             if line.startswith("civictext_inbound_total{")]
    assert lines == ['civictext_inbound_total{outcome="ok",provider="twilio"} 1.0',
                     'civictext_inbound_total{outcome="duplicate",provider="twilio"} 1.0']


@pytest.mark.heavy
def test_fuzzed_webhooks_never_answer_5xx() -> None:
    """A few hundred generated requests (the fault suite runs ten thousand)."""
    keys = Keys(twilio_token=TOKEN, telesign_customer_id=TS_CUSTOMER, telesign_api_key=TS_KEY)
    with serve_in_thread(lambda: build_bot(_signed_settings()).app) as port:
        report = fuzz("127.0.0.1", port, keys, examples=300, random_seed=11)
    assert report.server_errors == [] and report.transport_errors == []
    assert report.total == 300
    # The fuzz reaches past the signature checks, or it would prove little.
    assert report.statuses[200] > 5 and report.statuses[400] > 10
