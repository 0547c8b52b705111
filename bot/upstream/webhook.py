"""Staff webhooks: POST a JSON object to a URL the deployment names (WEBHOOK_TARGETS),
signed so the receiver can trust it.

Headers: `X-Civictext-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by
WEBHOOK_SECRET>`, `X-Civictext-Timestamp` (seconds, also inside the signed body as
`sent_at`) and `Idempotency-Key` (the same on every retry of one action). Failures are typed
for the worker's single retry rule: only what certainly did not reach the receiver (no
connection, 429, 503) is `UpstreamUnavailable`; a timeout after sending, a 5xx or a dropped
connection is `OutcomeUnknown`, retried only when the flow says the receiver deduplicates
on `Idempotency-Key`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import structlog

from bot.upstream.errors import OutcomeUnknown, UpstreamRejected, UpstreamUnavailable

log = structlog.get_logger("bot.upstream.webhook")

SIGNATURE_HEADER = "X-Civictext-Signature"
TIMESTAMP_HEADER = "X-Civictext-Timestamp"
MAX_ANSWER_BYTES = 64 * 1024
SERVICE = "webhook"


class UnknownTarget(UpstreamRejected):
    """The flow names a target WEBHOOK_TARGETS does not define."""


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str) -> bool:
    """What a receiver checks (constant time)."""
    return hmac.compare_digest(sign(secret, body), header)


class WebhookClient:
    """POSTs to the named targets over the process's one `ClientSession`."""

    def __init__(self, session: aiohttp.ClientSession, targets: Mapping[str, str],
                 secret: bytes, *, timeout: float, fallback_base: str | None = None) -> None:
        self.session = session
        self.targets = dict(targets)
        self.fallback_base = fallback_base  # `<base>/<target>` for unnamed targets (embedded)
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(self, target: str, payload: Mapping[str, Any], *, idempotency_key: str,
                   now: float | None = None) -> dict[str, Any]:
        """Send `payload`; the receiver's JSON object answer ({} when it sent none)."""
        url = self.targets.get(target)
        if url is None and self.fallback_base is not None:
            url = f"{self.fallback_base}/{target}"
        if url is None:
            raise UnknownTarget(SERVICE, f"no webhook target {target!r} in WEBHOOK_TARGETS")
        sent_at = int(now if now is not None else time.time())
        body = json.dumps({**payload, "sent_at": sent_at}, separators=(",", ":"),
                          sort_keys=True).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body),
                   TIMESTAMP_HEADER: str(sent_at), "Idempotency-Key": idempotency_key}
        started = time.perf_counter()
        status: int | None = None
        try:
            async with self.session.post(url, data=body, headers=headers,
                                         timeout=self.timeout) as resp:
                status = resp.status
                raw = await resp.content.read(MAX_ANSWER_BYTES)
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(SERVICE, "cannot connect") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise OutcomeUnknown(SERVICE, f"no clear answer ({type(exc).__name__})") from exc
        finally:
            log.info("upstream.call", service=SERVICE, target=target, method="POST",
                     status=status, ms=round((time.perf_counter() - started) * 1000, 1),
                     idempotency_key=idempotency_key)
        return _answer(status or 0, raw)


def _answer(status: int, raw: bytes) -> dict[str, Any]:
    if status in (429, 503):
        raise UpstreamUnavailable(SERVICE, f"HTTP {status}")
    if status >= 500:
        raise OutcomeUnknown(SERVICE, f"HTTP {status}")
    if status >= 400:
        raise UpstreamRejected(SERVICE, f"HTTP {status}")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
