"""TeleSign signatures: REFERENCE 5.7 vectors, the official SDK, and callback bodies (5.8)."""

from __future__ import annotations

import json

import pytest
from telesign.rest import RestClient
from telesign.util import verify_telesign_callback_signature as sdk_verify_callback

from bot.upstream.telesign_auth import (
    callback_authorization,
    callback_signature,
    rest_headers,
    verify_callback_signature,
)

CUSTOMER = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
API_KEY = "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="
DATE = "Wed, 14 Dec 2016 18:20:12 GMT"
NONCE = "A1592C6F-E384-4CDB-BC42-C3AB970369E9"


@pytest.mark.parametrize(
    ("method", "body", "signature"),
    [
        ("POST", "test=param", "2xVlmbrxLjYrrPun3G3WMNG6Jon4yKcTeOoK9DjXJ/Q="),
        ("POST", "test=%CF%BF", "h8d4I0RTxErbxYXuzCOtNqb/f0w3Ck8e5SEkGNj01+8="),
        ("GET", "", "aUm7I+9GKl3ww7PNeeJntCT0iS7b+EmRKEE4LnRzChQ="),
    ],
    ids=["post", "post-unicode", "get"],
)
def test_reference_vectors(method: str, body: str, signature: str) -> None:
    headers = rest_headers(CUSTOMER, API_KEY, method, "/v1/resource", body, date=DATE, nonce=NONCE)
    assert headers["Authorization"] == f"TSA {CUSTOMER}:{signature}"
    assert headers["x-ts-auth-method"] == "HMAC-SHA256"
    expected_type = "application/x-www-form-urlencoded" if method == "POST" else ""
    assert headers["Content-Type"] == expected_type


@pytest.mark.parametrize(
    ("method", "resource", "body"),
    [
        ("POST", "/v1/verify/sms", "phone_number=12025550100&verify_code=123456"),
        (
            "POST",
            "/v1/messaging",
            "phone_number=12025550100&message=Hi+%C3%A9t%C3%A9&message_type=ARN",
        ),
        ("GET", "/v1/verify/0123456789ABCDEF0123456789ABCDEF", ""),
        ("POST", "/v1/verify/sms", ""),
    ],
)
def test_headers_match_the_official_sdk(method: str, resource: str, body: str) -> None:
    ours = rest_headers(CUSTOMER, API_KEY, method, resource, body, date=DATE, nonce=NONCE)
    sdk = RestClient.generate_telesign_headers(
        CUSTOMER, API_KEY, method, resource, body, date_rfc2616=DATE, nonce=NONCE
    )
    assert ours == sdk


def test_date_and_nonce_are_new_on_every_attempt() -> None:
    first = rest_headers(CUSTOMER, API_KEY, "POST", "/v1/verify/sms", "a=b")
    second = rest_headers(CUSTOMER, API_KEY, "POST", "/v1/verify/sms", "a=b")
    assert first["x-ts-nonce"] != second["x-ts-nonce"]
    assert first["Authorization"] != second["Authorization"]


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
