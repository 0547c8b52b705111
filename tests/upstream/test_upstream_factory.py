"""`build_upstreams`: sandbox by default, real bases with credentials, WhatCounts rules."""

from __future__ import annotations

import aiohttp
from pydantic import SecretStr

from bot.config import SERVICES
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams, build_upstreams

from .conftest import upstream_settings

ROOT = "http://127.0.0.1:8080/sandbox"


async def test_no_configuration_means_every_service_is_sandboxed(
    http: aiohttp.ClientSession,
) -> None:
    ups = build_upstreams(upstream_settings(), http, ROOT)
    assert ups.describe() == dict.fromkeys(SERVICES, "sandbox")
    assert ups.p2a.base_url == f"{ROOT}/p2a"
    assert ups.whatcounts is not None and ups.whatcounts.base_url == f"{ROOT}/whatcounts"
    assert ups.whatcounts.sender_code == cred.WHATCOUNTS_SENDER_CODE
    assert ups.twilio.sender == cred.TWILIO_FROM
    assert all(getattr(ups, name).session is http for name in SERVICES)


async def test_credentials_switch_to_the_public_bases(http: aiohttp.ClientSession) -> None:
    settings = upstream_settings(
        twilio_account_sid="AC123",
        twilio_auth_token=SecretStr("t"),
        sms_from="MG" + "1" * 32,
        telesign_customer_id="C",
        telesign_api_key=SecretStr("a2V5"),
        p2a_app_id="id",
        p2a_app_key=SecretStr("k"),
        wevote_api_key=SecretStr("w"),
        quorum_username="u",
        quorum_api_key=SecretStr("q"),
        upstream_timeout=3.0,
    )
    ups = build_upstreams(settings, http, ROOT)
    assert ups.describe() == {
        "twilio": "https://api.twilio.com",
        "telesign": "https://rest-ww.telesign.com",
        "p2a": "https://api.phone2action.com/2.0",
        "wevote": "https://api.wevoteusa.org/apis/v1",
        "whatcounts": "sandbox",
        "quorum": "https://www.quorum.us/api",
    }
    assert ups.twilio.sender == "MG" + "1" * 32
    assert ups.quorum.timeout == 3.0


async def test_whatcounts_needs_a_site_and_a_sender_code(http: aiohttp.ClientSession) -> None:
    creds = {"whatcounts_user": "realm", "whatcounts_password": SecretStr("pw")}
    no_site = build_upstreams(upstream_settings(**creds), http, ROOT)
    assert no_site.whatcounts is None
    assert no_site.describe()["whatcounts"].startswith("disabled: WHATCOUNTS_API_BASE")
    site = {"whatcounts_api_base": "https://mail.example.org"}
    no_code = build_upstreams(upstream_settings(**creds, **site), http, ROOT)
    assert no_code.whatcounts is None
    ready = build_upstreams(
        upstream_settings(**creds, **site, whatcounts_sender_code="2065551212"), http, ROOT
    )
    assert isinstance(ready, Upstreams) and ready.whatcounts is not None
    assert ready.describe()["whatcounts"] == "https://mail.example.org"


async def test_an_explicit_base_without_credentials_uses_sandbox_credentials(
    http: aiohttp.ClientSession, sandbox_root: str
) -> None:
    settings = upstream_settings(p2a_api_base=sandbox_root + "/p2a/")
    ups = build_upstreams(settings, http, ROOT)
    assert ups.describe()["p2a"] == sandbox_root + "/p2a"
    assert await ups.p2a.find_advocate("+12025550100") is None  # sandbox auth accepted
