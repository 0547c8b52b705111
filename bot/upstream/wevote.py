"""WeVote client: device id and voter, save the phone and send a sign-in code, verify it.

WeVote answers HTTP 200 even on failure (`success: false`) and its `status` is a chain of
space-terminated tokens, so tokens are matched by substring. Every path keeps its trailing
slash. Not idempotent: `send_sign_in_code` (each call texts again; pass `sms_we_vote_id` on
resends so no duplicate row is made) and `verify_code` (each wrong try is counted, a right
code is spent). After an unclear end (`OutcomeUnknown`) of either, `phone_numbers(device_id)`
(voterSMSPhoneNumberRetrieve) shows the rows and whether the phone is verified.
"""

from __future__ import annotations

from typing import TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from bot.upstream.base import ApiClient, Reply
from bot.upstream.errors import UpstreamRejected
from bot.upstream.phone_formats import wevote_phone
from bot.upstream.redact import redact_text

DEVICE_ID_GENERATE = "/deviceIdGenerate/"
VOTER_CREATE = "/voterCreate/"
SMS_SAVE = "/voterSMSPhoneNumberSave/"
SMS_RETRIEVE = "/voterSMSPhoneNumberRetrieve/"
VERIFY_SECRET_CODE = "/voterVerifySecretCode/"


def has_status(status: str, token: str) -> bool:
    """WeVote status tokens are concatenated: match by substring, never equality."""
    return token in status


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str = ""
    success: bool = False


class DeviceId(_Answer):
    """deviceIdGenerate answer."""

    voter_device_id: str = ""


class Voter(_Answer):
    """voterCreate answer."""

    voter_device_id: str = ""
    voter_id: int | None = None
    voter_we_vote_id: str | None = None


class SmsPhone(BaseModel):
    """One `sms_phone_number_list[]` row (field names as the code returns them)."""

    model_config = ConfigDict(extra="ignore")
    normalized_sms_phone_number: str = ""
    primary_sms_phone_number: bool = False
    sms_permanent_bounce: bool = False
    sms_ownership_is_verified: bool = False
    voter_we_vote_id: str | None = None
    sms_we_vote_id: str = ""


class SmsSaved(_Answer):
    """voterSMSPhoneNumberSave answer (the fields we use)."""

    sms_phone_number_we_vote_id: str | None = None
    sms_phone_number_saved_we_vote_id: str | None = None
    sms_phone_number_created: bool = False
    sign_in_code_sms_sent: bool = False
    sms_phone_number_already_owned_by_other_voter: bool = False
    secret_code_system_locked_for_this_voter_device_id: bool = False
    sms_phone_number_list: list[SmsPhone] = Field(default_factory=list)

    @property
    def sms_we_vote_id(self) -> str | None:
        """The row id to send on resends."""
        return self.sms_phone_number_we_vote_id or self.sms_phone_number_saved_we_vote_id


class SmsList(_Answer):
    """voterSMSPhoneNumberRetrieve answer."""

    sms_phone_number_list: list[SmsPhone] = Field(default_factory=list)


class CodeVerified(_Answer):
    """voterVerifySecretCode answer: a wrong code is an answer, not an error."""

    secret_code_verified: bool = False
    incorrect_secret_code_entered: bool = False
    number_of_tries_remaining_for_this_code: int | None = None
    voter_must_request_new_code: bool = False
    secret_code_system_locked_for_this_voter_device_id: bool = False
    merge_from_voter_we_vote_id: str | None = None
    merge_to_voter_we_vote_id: str | None = None


A = TypeVar("A", bound=_Answer)
#: Tokens that mean the request itself was unusable (not a wrong code).
DEVICE_FAILURES = ("VALID_VOTER_DEVICE_ID_MISSING", "VOTER_NOT_FOUND_FROM")


class WeVoteClient(ApiClient):
    """REST client for the WeVote `apis/v1` endpoints (all GET)."""

    service = "wevote"

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, api_key: str, *, timeout: float = 10.0
    ) -> None:
        super().__init__(session, base_url, timeout=timeout)
        self._api_key = api_key

    async def generate_device_id(self) -> str:
        """deviceIdGenerate: an 88-character device id (creates no voter)."""
        answer = await self._get(DEVICE_ID_GENERATE, {}, DeviceId, idempotent=True)
        if not answer.voter_device_id:
            raise UpstreamRejected(self.service, "no voter_device_id in answer")
        return answer.voter_device_id

    async def create_voter(self, device_id: str, *, idempotency_key: str | None = None) -> Voter:
        """voterCreate: the voter linked to the device (VOTER_CREATED or VOTER_ALREADY_EXISTS);
        idempotent per device id, so safe to retry."""
        params = {"voter_device_id": device_id}
        return await self._get(
            VOTER_CREATE, params, Voter, idempotent=True, idempotency_key=idempotency_key
        )

    async def new_voter(self, *, idempotency_key: str | None = None) -> Voter:
        """deviceIdGenerate then voterCreate, the sequence WeVote's own tests use."""
        device_id = await self.generate_device_id()
        return await self.create_voter(device_id, idempotency_key=idempotency_key)

    async def send_sign_in_code(
        self,
        device_id: str,
        phone: str,
        *,
        sms_we_vote_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> SmsSaved:
        """voterSMSPhoneNumberSave with `send_sign_in_code_sms=true` (the only working path).

        On a resend pass the `sms_we_vote_id` of the first answer: WeVote otherwise adds a new
        row per call. Raises `UpstreamRejected` when WeVote did not send the code, except
        for a locked device: that answer is returned, its
        `secret_code_system_locked_for_this_voter_device_id` set (the save path says it only
        with that flag, no status text), for the caller to report as locked.
        """
        params = {"voter_device_id": device_id, "send_sign_in_code_sms": "true"}
        if sms_we_vote_id:
            params["sms_we_vote_id"] = sms_we_vote_id
        else:
            params["sms_phone_number"] = wevote_phone(phone)
        saved = await self._get(
            SMS_SAVE, params, SmsSaved, idempotent=False, idempotency_key=idempotency_key,
            phone=phone,
        )
        locked = saved.secret_code_system_locked_for_this_voter_device_id
        if not saved.sign_in_code_sms_sent and not locked:
            raise UpstreamRejected(self.service, redact_text(saved.status or "code not sent"))
        return saved

    async def verify_code(
        self, device_id: str, code: str, *, idempotency_key: str | None = None
    ) -> CodeVerified:
        """voterVerifySecretCode for an SMS code; read `secret_code_verified` for the result."""
        params = {"voter_device_id": device_id, "secret_code": code}
        params["code_sent_to_sms_phone_number"] = "true"
        answer = await self._get(
            VERIFY_SECRET_CODE, params, CodeVerified, idempotent=False,
            idempotency_key=idempotency_key, soft=True,
        )
        if not answer.success and any(has_status(answer.status, t) for t in DEVICE_FAILURES):
            raise UpstreamRejected(self.service, redact_text(answer.status))
        return answer

    async def phone_numbers(self, device_id: str) -> list[SmsPhone]:
        """voterSMSPhoneNumberRetrieve: the voter's rows (merges duplicates); idempotent."""
        params = {"voter_device_id": device_id}
        found = await self._get(SMS_RETRIEVE, params, SmsList, idempotent=True)
        return found.sms_phone_number_list

    async def _get(
        self,
        template: str,
        params: dict[str, str],
        model: type[A],
        *,
        idempotent: bool,
        idempotency_key: str | None = None,
        phone: str | None = None,
        soft: bool = False,
    ) -> A:
        """One GET; HTTP errors map by status, `success: false` to `UpstreamRejected`
        (unless `soft`, where the caller reads the flags itself)."""
        reply: Reply = await self.call(
            "GET",
            template,
            params={**params, "api_key": self._api_key},
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            phone=phone,
        )
        if not reply.ok:
            raise self.http_error(reply, idempotent=idempotent, detail=f"HTTP {reply.status}")
        answer = self.parse(model, reply)
        if not answer.success and not soft:
            raise UpstreamRejected(self.service, redact_text(answer.status or "success: false"))
        return answer
