"""Bounded retries for the worker's effects, through tenacity: exponential backoff with full
jitter, or the upstream's own `Retry-After` when it gave one (bounded too).

Which errors are worth another try is the caller's rule (`retryable`); this module only
decides how often and how long to wait, and says why it gave up (`GiveUp`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar, cast

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

log = structlog.get_logger("bot.retry")
T = TypeVar("T")


class GiveUp(Exception):
    """An effect failed for good (permanent error, or out of tries). `tries` holds the
    error of every try, oldest first: an early one may say the effect could have happened
    even when the last one says it did not."""

    def __init__(self, message: str, tries: list[BaseException] | None = None) -> None:
        super().__init__(message)
        self.tries = tries or []


def retry_after(exc: BaseException | None) -> float | None:
    """The pause an upstream asked for (`retry_after` of the error or of its cause)."""
    while exc is not None:
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, int | float) and hint > 0:
            return float(hint)
        exc = exc.__cause__
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """`max_tries` tries; between them a full-jitter pause under `base * 2**n` (at most
    `cap`), or the upstream's `Retry-After` (at most `retry_after_cap`). `sleep` is
    injectable so a test needs no wall clock."""

    max_tries: int = 6
    base: float = 0.25
    cap: float = 20.0
    retry_after_cap: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def wait(self, state: RetryCallState) -> float:
        """The pause before the next try."""
        error = state.outcome.exception() if state.outcome is not None else None
        return self.pause(state.attempt_number, error)

    def pause(self, tries_made: int, error: BaseException | None) -> float:
        """The pause after `tries_made` tries, the last failing with `error`."""
        hint = retry_after(error)
        if hint is not None:
            return min(hint, self.retry_after_cap)
        jitter = wait_random_exponential(multiplier=self.base, max=self.cap)
        return float(jitter(cast(RetryCallState, _Tries(tries_made))))

    async def run(self, call: Callable[[], Awaitable[T]],
                  retryable: Callable[[BaseException], bool],
                  passthrough: tuple[type[BaseException], ...] = ()) -> T:
        """`call()` until it succeeds, fails with an error that is not `retryable`, or runs
        out of tries. Errors of a `passthrough` type propagate as they are; every other
        failure becomes `GiveUp` with the reason.

        The first try is made directly: nearly every call succeeds at once, and setting up
        tenacity's machinery cost more than the rest of a send's own work on the worker.
        The tries after a failure go through tenacity, on the same schedule."""
        tries: list[BaseException] = []
        try:
            return await call()
        except Exception as exc:  # noqa: BLE001 - sorted out below, as after any try
            tries.append(exc)
            first = exc
        if self.max_tries <= 1 or not retryable(first):
            _give_up(first, retryable, passthrough, tries)
        pause = self.pause(1, first)
        log.info("retry", attempt=1, delay=round(pause, 2), error=repr(first)[:120])
        await self.sleep(pause)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_tries - 1),  # the first try is made
            wait=lambda state: self.pause(state.attempt_number + 1, _error_of(state)),
            retry=retry_if_exception(retryable),
            sleep=self.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )

        async def attempt() -> T:  # a coroutine function, so tenacity awaits each try
            try:
                return await call()
            except Exception as exc:
                tries.append(exc)
                raise

        try:
            return await retrying(attempt)
        except Exception as exc:  # noqa: BLE001 - re-raised or wrapped by `_give_up`
            _give_up(exc, retryable, passthrough, tries)


@dataclass(frozen=True)
class _Tries:
    """What tenacity's wait strategies read of a `RetryCallState`: the tries made."""

    attempt_number: int


def _error_of(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def _give_up(exc: BaseException, retryable: Callable[[BaseException], bool],
             passthrough: tuple[type[BaseException], ...],
             tries: list[BaseException]) -> NoReturn:
    """What a caller sees once trying stops: a `passthrough` error as it is, else `GiveUp`."""
    if isinstance(exc, passthrough):
        raise exc
    why = "out of tries" if retryable(exc) else "permanent"
    raise GiveUp(f"{why}: {exc!r}"[:300], tries) from exc


def _log_retry(state: RetryCallState) -> None:
    error = _error_of(state)
    pause = state.next_action.sleep if state.next_action is not None else 0.0
    log.info("retry", attempt=state.attempt_number + 1, delay=round(pause, 2),
             error=repr(error)[:120])
