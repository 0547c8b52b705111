"""`verify_send`: text the voter a one-time code (the first send, or RESEND after a cooldown).

How a flow calls it (the params are the vars of the previous send; "" the first time):

    send_code:
      action:
        type: verify_send
        params:
          resend: "false"            # "true" from the RESEND state
          sent_at: "{verify_sent_at}"
          device: "{verify_device}"
          sms_id: "{verify_sms_id}"
      on_success: ask_code
      on_failure:
        - {when: cooldown, goto: wait_a_minute}   # "{verify_wait}" seconds left
        - {when: locked, goto: too_many_tries}
        - {goto: cannot_verify}

Who makes and sends the code depends on `VERIFY_PROVIDER`:

- `local`: the bot makes a 6-digit code and texts it itself (through the opt-out guard),
  "{program}: your code is 123456. It expires in 10 minutes." (English or Spanish).
- `telesign`: the bot makes the code, TeleSign Verify texts it (`verify_code=` ours), so a
  resend after an unclear answer is harmless and the hash still checks it.
- `wevote`: WeVote makes, texts and later checks the code; the bot keeps the device id
  (a new WeVote voter on the first send) and the SMS row id (resends reuse the row).

For `local` and `telesign` only a salted HMAC of the code is returned, never the code.

Success tag `unclear`: the provider's answer was lost after the request left (it may have
sent the code or not); the data is the same, so a code that does arrive still checks.
Data on success: `verify_hash`, `verify_salt` (both "" for wevote), `verify_device`,
`verify_sms_id` (wevote; else ""), `verify_expires` (now + VERIFY_CODE_TTL),
`verify_sent_at` (now), `verify_tries` (0).

Reasons (ok=False): `cooldown` (a RESEND within VERIFY_RESEND_COOLDOWN seconds of the last
send; data `verify_wait`), `locked` (WeVote locked the device after too many failures),
`not_sent` (local: the guard held the text back, the phone is opted out or looping, or the
sender refused it for good), `unsupported_phone` (a number the provider cannot text, e.g.
one WeVote's phone validation refuses), `rejected`, `code_limit` (said by the worker,
before the action runs: the phone had its codes for the hour or day, or the code breaker
paused all code sends; see VERIFY_CODES_PER_*). Upstream down (or the sender says "try
later"): retried by the worker.
"""

from __future__ import annotations

from typing import ClassVar

import structlog

from bot.actions.base import UNCLEAR, Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams, digits, to_bool, to_int
from bot.actions.verify_common import (
    TELESIGN_LANGUAGES,
    VerifySettings,
    code_hash,
    code_text,
    new_code,
    new_salt,
)
from bot.phone import mask
from bot.sms import Refused, SendError
from bot.upstream.errors import (
    OutcomeUnknown,
    UnsupportedPhone,
    UpstreamError,
    UpstreamRejected,
)
from bot.upstream.wevote import WeVoteClient

log = structlog.get_logger("bot.actions.verify_send")

#: WeVote status token of a device locked after too many failed codes (REFERENCE 1.5).
WEVOTE_LOCKED = "SECRET_CODE_SYSTEM_LOCKED"
#: WeVote status tokens of a number it cannot text (invalid, or not NANP: REFERENCE 1.4-1.5).
WEVOTE_BAD_PHONE = ("MISSING_VALID_SMS", "INVALID_TO_NUMBER")


class VerifySendParams(LenientParams):
    """All optional: a first send needs none of them."""

    resend: str = "false"
    sent_at: str = ""
    device: str = ""
    sms_id: str = ""


class VerifySend(Action[VerifySendParams]):
    """Send a verification code by the configured provider."""

    name: ClassVar[str] = "verify_send"
    Params = VerifySendParams

    def __init__(self, settings: VerifySettings) -> None:
        self.settings = settings

    async def run(self, params: VerifySendParams, ctx: ActionContext) -> ActionOutcome:
        now = int(ctx.now)
        if to_bool(params.resend, default=False):
            sent_at = to_int(params.sent_at)
            cooldown = self.settings.resend_cooldown
            if sent_at is not None and now - sent_at < cooldown:
                wait = cooldown - (now - sent_at)
                return ActionOutcome(ok=False, data={"verify_wait": wait}, reason="cooldown")
        provider = self.settings.provider
        try:
            if provider == "wevote":
                return await self._wevote(params, ctx, now)
            return await self._own_code(provider, ctx, now)
        except UnsupportedPhone:
            return ActionOutcome(ok=False, reason="unsupported_phone")
        except UpstreamRejected as exc:
            log.warning("verify code refused", provider=provider, phone=mask(ctx.phone),
                        error=str(exc)[:200])
            return ActionOutcome(ok=False, reason="rejected")

    async def _own_code(self, provider: str, ctx: ActionContext, now: int) -> ActionOutcome:
        """`local` and `telesign`: our code, only its salted hash kept."""
        code, salt = new_code(), new_salt()
        digest = code_hash(self.settings, salt, ctx.phone, code)
        unclear = False
        if provider == "telesign":
            try:
                await ctx.upstreams.telesign.send_verify_sms(
                    ctx.phone, verify_code=code, language=TELESIGN_LANGUAGES.get(ctx.lang),
                    idempotency_key=ctx.idempotency_key)
            except OutcomeUnknown:
                # TeleSign cannot be asked; the voter can RESEND, and our hash checks it.
                log.warning("verify send unclear, treated as sent", provider=provider,
                            phone=mask(ctx.phone))
                unclear = True
        else:
            try:
                result = await ctx.send_sms(code_text(self.settings, ctx.lang, code))
            except SendError as exc:
                if exc.retryable:
                    raise  # the worker tries again
                return ActionOutcome(ok=False, reason="not_sent")
            if isinstance(result, Refused):
                return ActionOutcome(ok=False, reason="not_sent")
        log.info("verify code sent", provider=provider, phone=mask(ctx.phone))
        return ActionOutcome(ok=True, data=self._sent(now, digest=digest, salt=salt),
                             reason=UNCLEAR if unclear else None)

    async def _wevote(self, params: VerifySendParams, ctx: ActionContext, now: int
                      ) -> ActionOutcome:
        """WeVote texts its own code; we keep the device and the SMS row id."""
        wevote = ctx.upstreams.wevote
        device = params.device
        if not device:
            voter = await wevote.new_voter(idempotency_key=ctx.idempotency_key)
            device = voter.voter_device_id
            if not device:
                return ActionOutcome(ok=False, reason="rejected")
        sms_id = params.sms_id
        unclear = False
        try:
            saved = await wevote.send_sign_in_code(
                device, ctx.phone, sms_we_vote_id=sms_id or None,
                idempotency_key=ctx.idempotency_key)
            sms_id = saved.sms_we_vote_id or sms_id
            if saved.secret_code_system_locked_for_this_voter_device_id:
                # The save path says so only with this flag (REFERENCE, "WeVote locked
                # device"): no status text, and no code was sent.
                return ActionOutcome(ok=False, reason="locked")
        except OutcomeUnknown:
            log.warning("verify send unclear, treated as sent", provider="wevote",
                        phone=mask(ctx.phone))
            sms_id = sms_id or await _wevote_row(wevote, device, ctx.phone)
            unclear = True
        except UpstreamRejected as exc:
            if WEVOTE_LOCKED in exc.detail:
                return ActionOutcome(ok=False, reason="locked")
            if any(token in exc.detail for token in WEVOTE_BAD_PHONE):
                return ActionOutcome(ok=False, reason="unsupported_phone")
            raise
        log.info("verify code sent", provider="wevote", phone=mask(ctx.phone))
        return ActionOutcome(ok=True, data=self._sent(now, device=device, sms_id=sms_id),
                             reason=UNCLEAR if unclear else None)

    def _sent(self, now: int, *, digest: str = "", salt: str = "", device: str = "",
              sms_id: str = "") -> dict[str, str | int]:
        """The data of a successful send."""
        return {
            "verify_hash": digest,
            "verify_salt": salt,
            "verify_device": device,
            "verify_sms_id": sms_id,
            "verify_expires": now + self.settings.code_ttl,
            "verify_sent_at": now,
            "verify_tries": 0,
        }


async def _wevote_row(wevote: WeVoteClient, device: str, phone: str) -> str:
    """After an unclear send: the SMS row id of this phone, if WeVote shows one (else "")."""
    try:
        rows = await wevote.phone_numbers(device)
    except UpstreamError:
        return ""
    want = digits(phone)[-10:]
    for row in rows:
        if digits(row.normalized_sms_phone_number)[-10:] == want and row.sms_we_vote_id:
            return str(row.sms_we_vote_id)
    return ""

