"""A live server (provider credentials set) never serves webhooks nobody can verify."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from bot.__main__ import main
from tests.apphelpers import build_bot, text
from tests.conftest import ROOT, make_settings
from webhooks.signing import UnsafeWebhooks, startup_problems

KEY = base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(("settings", "missing"), [
    ({"twilio_account_sid": "AC1", "sms_sender": "twilio"}, ["TWILIO_AUTH_TOKEN"]),
    ({"telesign_customer_id": "C1", "sms_sender": "telesign"}, ["TELESIGN_API_KEY"]),
    ({"p2a_app_id": "a", "p2a_app_key": "b"}, ["neither TWILIO_AUTH_TOKEN nor"]),
    ({"twilio_account_sid": "AC1", "telesign_customer_id": "C1"},
     ["TWILIO_AUTH_TOKEN", "TELESIGN_API_KEY"]),
    ({"twilio_account_sid": "AC1", "twilio_auth_token": "t"}, []),
    ({"telesign_customer_id": "C", "telesign_api_key": KEY, "p2a_app_id": "a"}, []),
    ({}, []),  # the embedded default: no credentials, nothing live
    ({"twilio_account_sid": "AC1", "allow_unsigned_webhooks": True}, []),
])
def test_startup_problems(settings: dict[str, Any], missing: list[str]) -> None:
    problems = startup_problems(make_settings(**settings))
    assert len(problems) == len(missing)
    for problem, name in zip(problems, missing, strict=True):
        assert problem.startswith(name) and "anyone can post texts" in problem


def test_create_app_refuses_an_unverifiable_live_server() -> None:
    with pytest.raises(UnsafeWebhooks, match="TWILIO_AUTH_TOKEN is not set"):
        build_bot(make_settings(twilio_account_sid="AC1", p2a_app_id="a"))


async def test_the_unverifiable_provider_routes_are_closed_on_a_live_server(
        aiohttp_client: Any) -> None:
    bot = build_bot(make_settings(telesign_customer_id="C", telesign_api_key=KEY))
    client = await aiohttp_client(bot.app)
    assert (await text(client, "JOIN")).status == 403  # Twilio: no token to check with
    assert bot.sender.sent == []


async def test_allow_unsigned_keeps_the_routes_open(aiohttp_client: Any) -> None:
    bot = build_bot(make_settings(p2a_app_id="a", p2a_app_key="b",
                                  p2a_api_base="http://127.0.0.1:9/p2a",
                                  allow_unsigned_webhooks=True))
    client = await aiohttp_client(bot.app)
    assert (await text(client, "JOIN")).status == 200


def test_serve_says_why_it_refuses(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bot serve`'s `main`, in this process (a second interpreter cost ~1.2 s of
    CPU); were it to start instead of refusing, `run_app` fails the test, never blocks."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "TELESIGN_")):
            monkeypatch.delenv(name)
    for name, value in {"TWILIO_ACCOUNT_SID": "AC1", "SMS_SENDER": "twilio",
                        "PORT": "18699"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("bot.__main__.setup_logging", lambda *args, **kwargs: None)

    def started(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("serve started instead of refusing")

    monkeypatch.setattr("aiohttp.web.run_app", started)
    assert main(["serve"]) == 2
    stderr = capsys.readouterr().err
    assert "refusing to start: TWILIO_AUTH_TOKEN is not set" in stderr
    assert "ALLOW_UNSIGNED_WEBHOOKS=true" in stderr
