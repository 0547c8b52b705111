"""POST /webhooks/telesign/sms and /status: signed JSON callbacks."""

from __future__ import annotations

import json
from typing import Any

from tests.apphelpers import start_bot
from tests.conftest import make_settings
from webhooks.telesign_callbacks import callback_authorization

CUSTOMER = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
API_KEY = "ZW5jb2RlZCBrZXkgZm9yIHRlc3RzIG9ubHk="  # base64 of a test-only key
PHONE = "+15555550100"


def mo(body: str, ref: str = "0123456789ABCDEF0123456789ABCDEF") -> bytes:
    return json.dumps({
        "reference_id": ref, "sub_resource": "mo_sms", "errors": [],
        "status": {"code": 800, "description": "Delivered", "updated_on": "2026-11-25T10:00:00Z"},
        "user_response": {"phone_number": "15555550100", "mo_message": body,
                          "sender_id": "15555550199"},
    }).encode()


async def test_signed_inbound_sms_starts_a_conversation(aiohttp_client: Any,
                                                        aiohttp_server: Any) -> None:
    settings = make_settings(telesign_customer_id=CUSTOMER, telesign_api_key=API_KEY)
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, settings)
    raw = mo("JOIN")
    resp = await client.post("/webhooks/telesign/sms", data=raw, headers={
        "Content-Type": "application/json",
        "Authorization": callback_authorization(CUSTOMER, API_KEY, raw)})
    assert resp.status == 200
    await bot.runtime.settle()
    assert bot.texts_to(PHONE)[0].startswith("civictext: Reply YES")
    again = await client.post("/webhooks/telesign/sms", data=raw, headers={
        "Content-Type": "application/json",
        "Authorization": callback_authorization(CUSTOMER, API_KEY, raw)})
    assert again.status == 200  # TeleSign's retry of the same reference_id: a no-op
    await bot.runtime.settle()
    assert len(bot.texts_to(PHONE)) == 1


async def test_bad_or_missing_signature_is_refused(aiohttp_client: Any, aiohttp_server: Any
                                                   ) -> None:
    settings = make_settings(telesign_customer_id=CUSTOMER, telesign_api_key=API_KEY)
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, settings)
    raw = mo("JOIN")
    forged = callback_authorization(CUSTOMER, API_KEY, mo("STOP"))
    for headers in ({"Authorization": forged}, {}):
        resp = await client.post("/webhooks/telesign/sms", data=raw,
                                 headers={"Content-Type": "application/json", **headers})
        assert resp.status == 403
    assert (await bot.runtime.store.load(PHONE)).conversation.version == 0


async def test_delivery_report_and_malformed_body(aiohttp_client: Any, aiohttp_server: Any
                                                  ) -> None:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    report = json.dumps({"reference_id": "AB" * 16, "status": {
        "code": 200, "description": "Delivered to handset", "updated_on": "x"},
        "errors": [], "sub_resource": "sms"}).encode()
    resp = await client.post("/webhooks/telesign/status", data=report,
                             headers={"Content-Type": "application/json"})
    assert resp.status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'civictext_delivery_status_total{provider="telesign",status="delivered"} 1.0' in metrics
    bad = await client.post("/webhooks/telesign/status", data=b'{"nope": 1}',
                            headers={"Content-Type": "application/json"})
    assert bad.status == 400
