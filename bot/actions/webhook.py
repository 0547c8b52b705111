"""`webhook`: POST chosen values to a staff URL (a CRM, a petition sheet), signed.

    sign:
      action:
        type: webhook
        params:
          to: petition_sheet            # a name in WEBHOOK_TARGETS (the URL stays in config)
          name: "{name}"                # every other param is a field of the JSON body
          zip: "{zip5}"
          include_phone: "true"         # add the voter's number as `phone` (E.164)
          save_fields: "count"          # keep these fields of the JSON answer
          retry: "false"                # "true" only if the receiver dedupes Idempotency-Key
      on_success: thanks
      on_failure:
        - {when: not_configured, goto: sorry}
        - {goto: try_later}

The body is a JSON object of the fields (and `phone`, `sent_at`), signed with HMAC-SHA256
keyed by WEBHOOK_SECRET in `X-Civictext-Signature: sha256=<hex>`; `Idempotency-Key` is the
same on every retry. See `bot/upstream/webhook.py` for what is retried.

Data on success: each name in `save_fields` the answer has as a plain value (text, number,
true/false); names it lacks are not saved.
Reasons (ok=False): `not_configured` (the target is not in WEBHOOK_TARGETS), `rejected`
(the receiver answered 4xx), `unknown` (no clear answer: the receiver may have the data; not
retried unless `retry: "true"`). Receiver unreachable, 429 or 503 (`UpstreamUnavailable`):
retried by the worker.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import structlog
from pydantic import ConfigDict, model_validator

from bot.actions.base import Action, ActionContext, ActionOutcome, ActionRetry
from bot.actions.lenient import LenientParams
from bot.upstream.errors import OutcomeUnknown, UpstreamRejected
from bot.upstream.webhook import UnknownTarget

log = structlog.get_logger("bot.actions.webhook")

FIELD = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
RESERVED = frozenset({"phone", "sent_at"})
MAX_FIELDS = 30


class WebhookParams(LenientParams):
    """The target, what to do with the answer; every other key is a field to send."""

    model_config = ConfigDict(extra="allow")

    to: str
    include_phone: str = "false"
    save_fields: str = ""
    retry: str = "false"

    @model_validator(mode="after")
    def _fields_are_names(self) -> WebhookParams:
        extra = self.model_extra or {}
        bad = [k for k in extra if not FIELD.match(k) or k in RESERVED]
        if bad or len(extra) > MAX_FIELDS:
            raise ValueError(f"webhook fields must be lowercase names (not {sorted(RESERVED)}),"
                             f" at most {MAX_FIELDS}: {bad}")
        return self

    def fields(self) -> dict[str, str]:
        return {k: str(v).strip() for k, v in (self.model_extra or {}).items()}


def _saved(answer: dict[str, Any], names: str) -> dict[str, str | int | float | bool]:
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    return {n: answer[n] for n in wanted
            if isinstance(answer.get(n), str | int | float | bool)}


class Webhook(Action[WebhookParams]):
    """Post the chosen fields to a named staff target."""

    name: ClassVar[str] = "webhook"
    Params = WebhookParams

    async def run(self, params: WebhookParams, ctx: ActionContext) -> ActionOutcome:
        payload: dict[str, Any] = params.fields()
        if params.include_phone.lower() == "true":
            payload["phone"] = ctx.phone
        try:
            answer = await ctx.upstreams.webhook.post(
                params.to, payload, idempotency_key=ctx.idempotency_key, now=ctx.now or None)
        except UnknownTarget:
            log.warning("webhook target not configured", target=params.to)
            return ActionOutcome(ok=False, reason="not_configured")
        except OutcomeUnknown as exc:
            if params.retry.lower() == "true":
                raise ActionRetry(str(exc)) from exc
            log.warning("webhook outcome unknown, not retried", target=params.to,
                        error=str(exc)[:200])
            return ActionOutcome(ok=False, reason="unknown")
        except UpstreamRejected as exc:
            log.warning("webhook refused", target=params.to, error=str(exc)[:200])
            return ActionOutcome(ok=False, reason="rejected")
        return ActionOutcome(ok=True, data=_saved(answer, params.save_fields))
