"""`ApiClient`: the one way every upstream client talks HTTP.

It takes the process's shared `aiohttp.ClientSession` (never opens its own), puts a timeout on
every call, reads the whole body, writes ONE log line per call (service, method, path
template, status, duration; never headers, bodies, full phones or secrets), and turns
transport failures into typed errors. It never retries: the worker owns retries. It tells
the service's circuit breaker (`bot.upstream.breaker`) how each call ended, and refuses a
call at once while that breaker is open.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn, TypeVar
from urllib.parse import quote

import aiohttp
import structlog
from multidict import CIMultiDict
from pydantic import BaseModel, ValidationError
from yarl import URL

from bot.logs import info_enabled
from bot.upstream.breaker import CircuitBreaker
from bot.upstream.errors import (
    OutcomeUnknown,
    UnexpectedAnswer,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamMaybeDone,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.upstream.redact import mask_phone

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)

WARN_STATUSES = frozenset({401, 403, 429})
"""Answers that say the deployment is wrong or too fast, not that the request was refused:
logged at WARNING like a failure (see `ApiClient._log`)."""


@dataclass(frozen=True)
class Reply:
    """A fully read HTTP answer."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


class ApiClient:
    """Base of the service clients: shared session, timeout, typed errors, one log line."""

    service: ClassVar[str] = "upstream"
    #: True when credentials travel in the URL (Quorum): exception chains then drop the
    #: aiohttp cause, whose text can hold the full URL.
    secret_in_url: ClassVar[bool] = False

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, timeout: float = 10.0):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)  # made once, not per call
        #: Set by `build_upstreams`: one per service, shared by every call of the process.
        self.breaker: CircuitBreaker | None = None

    @staticmethod
    def fill(template: str, path: Mapping[str, str] | None = None) -> str:
        """The path template with each value percent-encoded (`/v1/verify/{reference_id}`)."""
        return template.format(**{k: quote(v, safe="") for k, v in (path or {}).items()})

    def url(self, template: str, path: Mapping[str, str] | None = None) -> URL:
        """Base URL + filled path template."""
        return URL(self.base_url + self.fill(template, path), encoded=True)

    async def call(
        self,
        method: str,
        template: str,
        *,
        idempotent: bool,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        phone: str | None = None,
    ) -> Reply:
        """Send one request and read the answer; transport failures become typed errors.

        A timeout or dropped connection after the request may have been sent raises
        `UpstreamUnavailable` for an idempotent call and `OutcomeUnknown` otherwise; a failure
        to connect at all is always `UpstreamUnavailable` (nothing was sent). While the
        service's breaker is open the call is refused at once (`CircuitOpen`).
        """
        if self.breaker is not None:
            self.breaker.before_call()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        answered = False
        try:
            async with self.session.request(
                method,
                self.url(template, path),
                params=params,
                data=data,
                json=json_body,
                headers=headers,
                timeout=self._client_timeout,
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                status = resp.status
                reply = Reply(status, body, CIMultiDict(resp.headers))
                answered = status >= 500 and self.answered(reply)
                return reply
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            error = type(exc).__name__
            self._raise(UpstreamUnavailable(self.service, f"cannot connect ({error})"), exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = type(exc).__name__
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed ({error})"
            if idempotent:  # safe to repeat; a write may still have taken effect
                unclear = UpstreamUnavailable if method == "GET" else UpstreamMaybeDone
                self._raise(unclear(self.service, f"{method} {template} {what}"), exc)
            self._raise(
                OutcomeUnknown(self.service, f"{method} {template} {what} after sending"), exc
            )
        finally:
            self._tell_breaker(status, error, answered=answered)
            self._log(
                method,
                template=template,
                status=status,
                started=started,
                error=error,
                idempotency_key=idempotency_key,
                phone=phone,
                answered=answered,
            )

    def answered(self, reply: Reply) -> bool:
        """Whether a 5xx reply is still the service's own answer (a documented business
        error, as WhatCounts sends with HTTP 500), not a sign that it is down."""
        del reply
        return False

    def _tell_breaker(self, status: int | None, error: str | None, *,
                      answered: bool = False) -> None:
        """A 5xx or a transport failure counts against the service; any other answer
        (4xx included, and a business error sent as a 5xx: it answered) is a success;
        neither (cancelled) settles nothing."""
        if self.breaker is None:
            return
        if error is not None or (status is not None and status >= 500 and not answered):
            self.breaker.failed()
        elif status is not None:
            self.breaker.succeeded()
        else:
            self.breaker.abandoned()

    def _raise(self, err: UpstreamError, cause: BaseException) -> NoReturn:
        """Raise `err` chained to `cause`, unless the cause's text may carry a secret URL."""
        if self.secret_in_url:
            raise err from None
        raise err from cause

    def _log(
        self,
        method: str,
        *,
        template: str,
        status: int | None,
        started: float,
        error: str | None,
        idempotency_key: str | None,
        phone: str | None,
        answered: bool = False,
    ) -> None:
        """The one log line of a call: at WARNING when the service failed us (no answer, a
        5xx that is not one of its business answers, our credentials refused, rate limited),
        else at INFO, a "no" included (any other 4xx, WhatCounts' 500 "nothing to stop"):
        the caller decides what a "no" means and logs a refusal that matters itself, and a
        STOP wave of phones never subscribed is not a wave of warnings. Not even built when
        INFO is filtered out, as under load it is."""
        bad = (error is not None or status is None or status in WARN_STATUSES
               or (status >= 500 and not answered))
        if not bad and not info_enabled(log):
            return
        fields: dict[str, Any] = {
            "service": self.service,
            "method": method,
            "path": template,
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if idempotency_key:
            fields["idempotency_key"] = idempotency_key
        if phone:
            fields["phone"] = mask_phone(phone)
        if error:
            fields["error"] = error
        (log.warning if bad else log.info)("upstream.call", **fields)

    def http_error(
        self,
        reply: Reply,
        *,
        idempotent: bool,
        detail: str,
        code: int | str | None = None,
    ) -> UpstreamError:
        """The generic mapping of a non-2xx status to a typed error (services refine it)."""
        status = reply.status
        if status == 429:
            return UpstreamRateLimited(
                self.service, detail, status=status, code=code, retry_after=retry_after(reply)
            )
        if status in (401, 403):
            return UpstreamAuthFailed(self.service, detail, status=status, code=code)
        if status < 500:  # 4xx, and 3xx: we never follow redirects (a wrong base URL)
            return UpstreamRejected(self.service, detail, status=status, code=code)
        if status in (502, 503) or idempotent:
            return UpstreamUnavailable(
                self.service, detail, status=status, code=code, retry_after=retry_after(reply)
            )
        return OutcomeUnknown(self.service, detail, status=status, code=code)

    def parse(self, model: type[M], reply: Reply) -> M:
        """Validate a success body against its pydantic model."""
        try:
            return model.model_validate(reply.json())
        except ValidationError as exc:
            raise UnexpectedAnswer(
                self.service, f"unexpected {model.__name__} answer", status=reply.status
            ) from exc


def retry_after(reply: Reply) -> float | None:
    """Seconds from a `Retry-After` header given in seconds (dates are ignored)."""
    value = reply.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The `Authorization` header of HTTP Basic auth, encoded by aiohttp
    (`encode_basic_auth`, which replaces the deprecated `BasicAuth` in aiohttp 3.14)."""
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


def flag(value: bool | None) -> str | None:
    """A boolean as the `1`/`0` string form fields use."""
    return None if value is None else ("1" if value else "0")
