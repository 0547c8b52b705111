"""A circuit breaker per upstream service, so a service that is down costs one quick refusal
per call instead of a timeout and a pile of retries per call.

Closed: calls go through; `threshold` failures in a row (5xx, timeouts, connection errors,
never a 4xx: the service answered) open it. Open: every call is refused at once with
`CircuitOpen` (an `UpstreamUnavailable` whose `retry_after` is the rest of the cool-down)
for `cooldown` seconds. Then half-open: ONE call goes through as a probe while the others
are still refused; its success closes the breaker, its failure opens it again.

No I/O here: the client reports each call's result; opening and closing are logged and told
to `on_change` (the process's metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

import structlog

from bot.upstream.errors import UpstreamUnavailable

log = structlog.get_logger("bot.upstream.breaker")


class BreakerState(Enum):
    """Where a breaker is; the value is the `civictext_upstream_breaker_open` gauge's."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitOpen(UpstreamUnavailable):
    """Refused without calling: the service's breaker is open. Nothing was sent."""


class CircuitBreaker:
    """The breaker of one service (see the module docstring)."""

    def __init__(self, service: str, *, threshold: int = 5, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str, BreakerState], None] | None = None) -> None:
        self.service = service
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def before_call(self) -> None:
        """Raise `CircuitOpen` unless this call may go out (closed, or the half-open probe)."""
        if self.state is BreakerState.CLOSED:
            return
        left = self._opened_at + self.cooldown - self._clock()
        if self.state is BreakerState.OPEN and left <= 0:
            self._move(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True  # this call is the probe
            return
        raise CircuitOpen(self.service, "circuit open: calls paused after repeated failures",
                          retry_after=max(left, 1.0))

    def succeeded(self) -> None:
        """The service answered (2xx-4xx): a probe's success closes the breaker."""
        self.failures = 0
        self._probing = False
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def failed(self) -> None:
        """A 5xx, timeout or connection error: count it; open at the threshold, or again
        when the probe failed."""
        self.failures += 1
        probe = self._probing
        self._probing = False
        if probe or (self.state is BreakerState.CLOSED and self.failures >= self.threshold):
            self._opened_at = self._clock()
            self._move(BreakerState.OPEN)

    def abandoned(self) -> None:
        """The call ended with no answer either way (cancelled): a probe may go again."""
        self._probing = False

    def _move(self, state: BreakerState) -> None:
        if state is self.state:
            return
        self.state = state
        if state is BreakerState.OPEN:
            log.error("upstream breaker open", service=self.service, failures=self.failures,
                      cooldown=self.cooldown)
        elif state is BreakerState.CLOSED:
            log.warning("upstream breaker closed", service=self.service)
        if self._on_change is not None:
            self._on_change(self.service, state)
