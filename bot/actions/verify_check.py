"""`verify_check`: check the code the voter typed against the last `verify_send`.

    check_code:
      action:
        type: verify_check
        params:
          code: "{code}"               # saved by `when: code`
          hash: "{verify_hash}"
          salt: "{verify_salt}"
          device: "{verify_device}"
          expires: "{verify_expires}"
          tries: "{verify_tries}"
      on_success: verified
      on_failure:
        - {when: wrong_code, goto: ask_code_again}   # "{verify_tries_left}" tries left
        - {when: expired, goto: offer_resend}
        - {when: locked, goto: too_many_tries}
        - {goto: cannot_verify}

Which check runs is decided by the send's data, not by today's setting: a `hash` means the
bot made the code (`local`, `telesign`): it is compared locally, HMAC in constant time.
Otherwise a `device` means WeVote made it: `voterVerifySecretCode` checks it. Neither means
no code is outstanding (reason `expired`).

Order of checks: `locked` when `tries` >= VERIFY_MAX_TRIES; `expired` when now > `expires`
(or `expires` is unset); then the code.

Data on success: `verified` (true), `verify_tries` (0), and `verify_hash`/`verify_salt`
cleared to "" (a code is single-use).
Reasons (ok=False): `wrong_code` (data `verify_tries` = tries + 1 and `verify_tries_left`;
when that reaches the bound the reason is `locked` instead, same data), `expired`, `locked`
(also WeVote's own lock or "request a new code"), `unavailable` (WeVote's answer was lost
and its phone list does not show the number verified: never re-sent blindly, since a retry
would spend a try or fail on a spent code), `rejected`. WeVote down before the request:
retried by the worker.
"""

from __future__ import annotations

from typing import ClassVar

import structlog

from bot.actions.base import Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams, digits, to_int
from bot.actions.verify_common import VerifySettings, hash_matches
from bot.phone import mask
from bot.upstream.errors import OutcomeUnknown, UpstreamError, UpstreamRejected
from bot.upstream.wevote import WeVoteClient, has_status

log = structlog.get_logger("bot.actions.verify_check")

#: WeVote status tokens (REFERENCE 1.6), matched by substring.
WEVOTE_LOCKED = ("SECRET_CODE_SYSTEM_LOCKED", "THIS_CODE_HAS_EXCEEDED_ALLOWED_TRIES",
                 "NO_MORE_TRIES_REMAINING")
WEVOTE_EXPIRED = ("SECRET_CODE_HAS_EXPIRED", "MISSING_SECRET_CODE")

VERIFIED = {"verified": True, "verify_tries": 0, "verify_hash": "", "verify_salt": ""}


class VerifyCheckParams(LenientParams):
    """`code` is what the voter typed; the rest is the data of the last `verify_send`."""

    code: str
    hash: str = ""
    salt: str = ""
    device: str = ""
    expires: str = ""
    tries: str = ""


class VerifyCheck(Action[VerifyCheckParams]):
    """Check a verification code, counting wrong tries up to VERIFY_MAX_TRIES."""

    name: ClassVar[str] = "verify_check"
    Params = VerifyCheckParams

    def __init__(self, settings: VerifySettings) -> None:
        self.settings = settings

    async def run(self, params: VerifyCheckParams, ctx: ActionContext) -> ActionOutcome:
        tries = max(0, to_int(params.tries) or 0)
        bound = self.settings.max_tries
        if tries >= bound:
            return ActionOutcome(ok=False, data={"verify_tries": tries, "verify_tries_left": 0},
                           reason="locked")
        expires = to_int(params.expires)
        if expires is None or ctx.now > expires or not (params.hash or params.device):
            return ActionOutcome(ok=False, reason="expired")
        code = digits(params.code)
        if params.hash:
            good = bool(code) and hash_matches(self.settings, params.salt, ctx.phone, code,
                                               params.hash)
            return self._result(good, tries, bound, ctx)
        return await self._wevote(params.device, code, tries, bound, ctx)

    @staticmethod
    def _result(good: bool, tries: int, bound: int, ctx: ActionContext) -> ActionOutcome:
        if good:
            log.info("verify code accepted", phone=mask(ctx.phone))
            return ActionOutcome(ok=True, data=VERIFIED)
        tries += 1
        data = {"verify_tries": tries, "verify_tries_left": max(0, bound - tries)}
        log.info("verify code wrong", phone=mask(ctx.phone), tries=tries)
        return ActionOutcome(ok=False, data=data,
                             reason="locked" if tries >= bound else "wrong_code")

    async def _wevote(self, device: str, code: str, tries: int, bound: int,
                      ctx: ActionContext) -> ActionOutcome:
        wevote = ctx.upstreams.wevote
        try:
            answer = await wevote.verify_code(device, code, idempotency_key=ctx.idempotency_key)
        except OutcomeUnknown:
            if await _wevote_verified(wevote, device, ctx.phone):
                return ActionOutcome(ok=True, data=VERIFIED)
            log.warning("verify check unclear", provider="wevote", phone=mask(ctx.phone))
            return ActionOutcome(ok=False, reason="unavailable")
        except UpstreamRejected as exc:
            log.warning("verify check refused", provider="wevote", error=str(exc)[:200])
            return ActionOutcome(ok=False, reason="rejected")
        status = answer.status
        if answer.secret_code_verified:
            return self._result(True, tries, bound, ctx)
        if answer.secret_code_system_locked_for_this_voter_device_id:
            return ActionOutcome(ok=False, data={"verify_tries": tries}, reason="locked")
        if any(has_status(status, token) for token in WEVOTE_EXPIRED):
            return ActionOutcome(ok=False, reason="expired")
        if answer.incorrect_secret_code_entered:
            outcome = self._result(False, tries, bound, ctx)
            if answer.voter_must_request_new_code:
                return ActionOutcome(ok=False, data=outcome.data, reason="locked")
            return outcome
        if answer.voter_must_request_new_code or any(has_status(status, t)
                                                     for t in WEVOTE_LOCKED):
            return ActionOutcome(ok=False, data={"verify_tries": tries}, reason="locked")
        return ActionOutcome(ok=False, reason="rejected")


async def _wevote_verified(wevote: WeVoteClient, device: str, phone: str) -> bool:
    """After an unclear check: does WeVote list this phone as verified for the device?"""
    try:
        rows = await wevote.phone_numbers(device)
    except UpstreamError:
        return False
    want = digits(phone)[-10:]
    return any(digits(r.normalized_sms_phone_number)[-10:] == want
               and r.sms_ownership_is_verified for r in rows)
