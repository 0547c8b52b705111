"""TeleSign `status.code` / `errors[].code` -> outcomes, and the callback body models."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bot.upstream.telesign_models import (
    DeliveryReport,
    InboundSms,
    StatusMeaning,
    classify,
    parse_callback,
)


@pytest.mark.parametrize(
    ("status", "errors", "outcome"),
    [
        (200, [], StatusMeaning.DELIVERED),
        (290, [], StatusMeaning.IN_PROGRESS),
        (292, [], StatusMeaning.IN_PROGRESS),
        (203, [], StatusMeaning.IN_PROGRESS),
        (503, [], StatusMeaning.RETRYABLE),  # carrier rejected, temporary
        (505, [], StatusMeaning.RETRYABLE),  # gateway temporary
        (500, [-90001], StatusMeaning.RETRYABLE),
        (500, [-40007], StatusMeaning.RETRYABLE),
        (500, [-10001], StatusMeaning.FAILED),
        (504, [], StatusMeaning.FAILED),  # carrier rejected, permanent
        (211, [], StatusMeaning.FAILED),
        (230, [], StatusMeaning.FAILED),
        (251, [], StatusMeaning.UNKNOWN),
    ],
)
def test_classify(status: int, errors: list[int], outcome: StatusMeaning) -> None:
    assert classify(status, errors) is outcome


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
