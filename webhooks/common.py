"""What every provider webhook shares: the error middleware and the inbound hand-off.

Errors map to what a provider understands: a malformed request 400 (retrying will not
help), a bad signature 403, Redis unreachable, slow or contended 503 (retry), anything else
500 with a masked log line (never aiohttp's raw traceback).

A 503 does not always mean nothing was written: when Redis answers after the time bound,
the commit may have landed just after the webhook gave up, or it landed but fewer replicas
than `REDIS_WAIT_REPLICAS` asks for confirmed it in time. That is safe because the commit
carries the provider's message id as its dedup mark, so the provider's retry is a no-op.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core import Applied, Contended
from bot.models import Inbound
from bot.phone import to_e164
from bot.store import CommitResult
from bot.store.scriptcalls import NotReplicated
from webhooks.keys import CORE, METRICS, SETTINGS

log = structlog.get_logger("webhooks")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INBOUND_TIMEOUT = 5.0
"""Seconds one inbound text may take to be committed before the webhook answers 503."""


class SignatureError(Exception):
    """The request's signature does not match: it did not come from the provider."""


class BadRequest(Exception):
    """The request is malformed; `reason` is safe to show the caller."""


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn failures into the status a provider acts on correctly."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (BadRequest, ValidationError) as exc:
        reason = _short(exc)
        log.info("bad request", path=request.path, reason=reason)
        return web.json_response({"error": "bad request", "reason": reason}, status=400)
    except SignatureError:
        log.warning("bad signature", path=request.path)
        return web.json_response({"error": "invalid signature"}, status=403)
    except (RedisConnectionError, RedisTimeoutError, Contended, NotReplicated, OSError) as exc:
        log.warning("storage unavailable", path=request.path, error=repr(exc)[:200])
        return web.json_response({"error": "temporarily unavailable"}, status=503,
                                 headers={"Retry-After": "5"})
    except RedisError as exc:
        log.error("storage error", path=request.path, error=repr(exc)[:200])
        return web.json_response({"error": "temporarily unavailable"}, status=503)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - logged through the masking, not raw
        log.error("webhook failed", path=request.path, error=repr(exc)[:300])
        return web.json_response({"error": "internal error"}, status=500)


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)[:200]


async def take_inbound(request: web.Request, provider: str, message_id: str, sender: str,
                       to: str, body: str) -> Applied | None:
    """Normalise the sender and hand the text to the core; None when the sender is invalid.

    Answers only after the step is committed, so a 2xx means the text is safe in Redis.
    """
    app = request.app
    started = time.perf_counter()
    settings = app[SETTINGS]
    phone = to_e164(sender, settings.default_region)
    metrics = app[METRICS]
    if phone is None:
        metrics.inbound.labels(provider, "invalid_sender").inc()
        log.info("inbound from invalid number ignored", provider=provider, sender=sender)
        return None
    core = app[CORE]
    event = Inbound(provider=provider, message_id=message_id, phone=phone, to=to, body=body,
                    received_at=core.clock.now())
    # One bound for the whole step (the Redis client has no per-command timeout): a Redis
    # that stopped answering costs a 503 well before the provider gives up (15 s).
    async with asyncio.timeout(INBOUND_TIMEOUT):
        applied = await core.apply(phone, event, dedup=f"{provider}:{message_id}")
    if applied.outcome is not CommitResult.DUPLICATE:  # the core counts a duplicate, once
        metrics.inbound.labels(provider, applied.outcome.value).inc()
    metrics.webhook_seconds.labels(provider).observe(time.perf_counter() - started)
    return applied
