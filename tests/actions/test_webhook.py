"""`webhook`: signed JSON to a named staff target; retried only when nothing arrived (or
when the flow says the receiver deduplicates); chosen answer fields saved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.actions.base import ActionRetry
from bot.actions.webhook import WebhookParams
from bot.upstream.errors import UpstreamUnavailable
from bot.upstream.webhook import SIGNATURE_HEADER, signature_ok
from tests.actions.conftest import PHONE, Env

WEBHOOK = "webhook"
SECRET = "staff-shared-secret"


class Receiver:
    """A staff endpoint: checks the signature, records what came, answers as told."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.answers: list[int] = []
        self.signed: list[bool] = []

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.signed.append(signature_ok(SECRET.encode(), raw,
                                        request.headers.get(SIGNATURE_HEADER, "")))
        self.bodies.append(json.loads(raw))
        self.keys.append(request.headers["Idempotency-Key"])
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"count": len(self.bodies), "note": {"nested": 1}},
                                 status=status)


@pytest.fixture
async def receiver(env: Env, aiohttp_server: Any) -> Receiver:
    staff = Receiver()
    app = web.Application()
    app.router.add_post("/sign", staff.handle)
    server: TestServer = await aiohttp_server(app)
    env.configure(webhook_targets={"sheet": str(server.make_url("/sign"))},
                  webhook_secret=SECRET)
    return staff


async def test_posts_signed_fields_and_saves_chosen_answer_fields(env: Env,
                                                                  receiver: Receiver) -> None:
    outcome = await env.run(WEBHOOK, to="sheet", signer="Ana", zip="64108",
                            include_phone="true", save_fields="count, note, missing")
    assert (outcome.ok, dict(outcome.data)) == (True, {"count": 1})  # only plain values
    assert receiver.bodies == [{"signer": "Ana", "zip": "64108", "phone": PHONE,
                                "sent_at": int(env.now)}]
    assert receiver.signed == [True]


async def test_a_wrong_secret_does_not_verify(env: Env, receiver: Receiver) -> None:
    env.configure(webhook_targets=env.settings.webhook_targets, webhook_secret="other")
    await env.run(WEBHOOK, to="sheet", signer="Ana")
    assert receiver.signed == [False]


async def test_an_unknown_target_fails_without_a_call(env: Env, receiver: Receiver) -> None:
    outcome = await env.run(WEBHOOK, to="crm", signer="Ana")
    assert (outcome.ok, outcome.reason) == (False, "not_configured")
    assert receiver.bodies == []


async def test_503_is_retried_with_the_same_idempotency_key(env: Env,
                                                            receiver: Receiver) -> None:
    receiver.answers = [503]
    ctx = env.ctx()
    action = env.registry.get(WEBHOOK)
    assert action is not None
    bound = action.bind({"to": "sheet", "signer": "Ana"})
    with pytest.raises(UpstreamUnavailable, match="HTTP 503"):  # the worker retries it
        await bound(ctx)
    outcome = await bound(ctx)
    assert outcome.ok
    assert receiver.keys == [ctx.idempotency_key, ctx.idempotency_key]


@pytest.mark.parametrize(("retry", "expected"), [("false", "unknown"), ("true", "retry")])
async def test_an_unclear_500_is_retried_only_when_the_flow_says_it_is_safe(
        env: Env, receiver: Receiver, retry: str, expected: str) -> None:
    receiver.answers = [500]
    if expected == "retry":
        with pytest.raises(ActionRetry):
            await env.run(WEBHOOK, to="sheet", signer="Ana", retry=retry)
        return
    outcome = await env.run(WEBHOOK, to="sheet", signer="Ana", retry=retry)
    assert (outcome.ok, outcome.reason) == (False, "unknown")


async def test_4xx_is_rejected_and_not_retried(env: Env, receiver: Receiver) -> None:
    receiver.answers = [422]
    outcome = await env.run(WEBHOOK, to="sheet", signer="Ana")
    assert (outcome.ok, outcome.reason) == (False, "rejected")
    assert len(receiver.bodies) == 1


@pytest.mark.parametrize("field", ["phone", "Name", "sent_at"])
def test_reserved_or_odd_field_names_are_refused(field: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        WebhookParams.model_validate({"to": "sheet", field: "x"})
