"""TeleSign's callbacks to our webhook: the body models (REFERENCE 5.8) and the body
signature, checked against the official SDK."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from telesign.util import verify_telesign_callback_signature as sdk_verify_callback

from bot.upstream.telesign_models import StatusMeaning
from webhooks.telesign_callbacks import (
    DeliveryReport,
    InboundSms,
    callback_authorization,
    callback_signature,
    parse_callback,
    verify_callback_signature,
)

CUSTOMER = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
API_KEY = "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="
BODY = json.dumps({"reference_id": "ABC", "status": {"code": 200}}).encode()


def test_callback_signature_agrees_with_the_sdk() -> None:
    signature = callback_signature(API_KEY, BODY)
    assert sdk_verify_callback(API_KEY, signature, BODY.decode())
    assert verify_callback_signature(API_KEY, signature, BODY)


def test_callback_authorization_header_checks_out() -> None:
    header = callback_authorization(CUSTOMER, API_KEY, BODY)
    assert header.startswith(f"TSA {CUSTOMER}:")
    assert verify_callback_signature(API_KEY, header, BODY, customer_id=CUSTOMER)


@pytest.mark.parametrize(
    ("header", "body", "customer"),
    [
        pytest.param(None, BODY, None, id="missing"),
        pytest.param("", BODY, None, id="empty"),
        pytest.param("TSA nocolon", BODY, None, id="malformed"),
        pytest.param("TSA " + CUSTOMER + ":AAAA", BODY, None, id="wrong-signature"),
        pytest.param("TAMPERED", BODY + b" ", None, id="tampered-body"),
        pytest.param("OTHER", BODY, "00000000-0000-0000-0000-000000000000", id="other-customer"),
    ],
)
def test_callback_signature_refusals(header: str | None, body: bytes, customer: str | None) -> None:
    if header in ("TAMPERED", "OTHER"):
        header = callback_authorization(CUSTOMER, API_KEY, BODY)
    assert not verify_callback_signature(API_KEY, header, body, customer_id=customer)


def test_delivery_report() -> None:
    body = {
        "reference_id": "0123456789ABCDEF0123456789ABCDEF",
        "status": {
            "code": 200,
            "description": "Delivered to handset",
            "updated_on": "2024-03-01T10:00:00Z",
        },
        "submit_timestamp": "2024-03-01T09:59:58Z",
        "errors": [],
        "verify": {"code_state": "UNKNOWN", "code_entered": ""},
        "sub_resource": "sms",
        "additional_info": {"message_parts_count": 1},
        "something_new": True,
    }
    report = parse_callback(json.dumps(body).encode())
    assert isinstance(report, DeliveryReport)
    assert report.outcome is StatusMeaning.DELIVERED
    assert report.reference_id == body["reference_id"]


def test_failed_delivery_report_lists_its_errors() -> None:
    body = {
        "reference_id": "R",
        "sub_resource": "sms",
        "status": {"code": 503},
        "errors": [{"code": -90001, "description": "x"}],
    }
    report = parse_callback(json.dumps(body).encode())
    assert report.outcome is StatusMeaning.RETRYABLE  # type: ignore[union-attr]


def test_inbound_sms() -> None:
    body = {
        "reference_id": "A" * 32,
        "sub_resource": "mo_sms",
        "errors": [],
        "status": {"code": 800, "description": "Delivered"},
        "user_response": {
            "phone_number": "12025550100",
            "mo_message": "JOIN",
            "sender_id": "15555550199",
        },
    }
    inbound = parse_callback(json.dumps(body).encode())
    assert isinstance(inbound, InboundSms)
    assert inbound.user_response.phone_e164 == "+12025550100"
    assert inbound.user_response.mo_message == "JOIN"


@pytest.mark.parametrize("raw", [b"not json", b'{"sub_resource": "mo_sms"}', b"{}"])
def test_bad_callback_bodies_raise_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_callback(raw)
