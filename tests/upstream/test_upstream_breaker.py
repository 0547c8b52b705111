"""The circuit breaker per upstream: N failures in a row (5xx, timeouts, connection errors;
never a 4xx) open it, calls are then refused without going out, and after the cool-down one
probe decides. Driven through the sandboxes' fault switches and a fake clock."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs

from bot.metrics import Metrics
from bot.sandbox import Sandbox
from bot.upstream import Upstreams, build_upstreams
from bot.upstream.breaker import BreakerState, CircuitBreaker, CircuitOpen
from bot.upstream.errors import UpstreamRejected, UpstreamUnavailable
from tests.upstream.conftest import upstream_settings

ROUTE = "GET /advocates"
PHONE = "+15555550100"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def p2a_calls(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.log.requests if r.route == ROUTE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def guarded(http: aiohttp.ClientSession, sandbox_root: str, sandbox: Sandbox,
            clock: FakeClock, metrics: Metrics) -> Upstreams:
    """Clients whose P2A breaker opens after 3 failures for 30 s on the fake clock."""
    ups = build_upstreams(upstream_settings(upstream_timeout=0.3, upstream_breaker_failures=3,
                                            upstream_breaker_seconds=30),
                          http, sandbox_root, metrics.breaker_changed)
    assert ups.p2a.breaker is not None
    ups.p2a.breaker = CircuitBreaker("p2a", threshold=3, cooldown=30, clock=clock,
                                     on_change=metrics.breaker_changed)
    return ups


def gauge(metrics: Metrics, name: str, service: str = "p2a") -> float | None:
    return metrics.registry.get_sample_value(name, {"service": service})


async def test_every_service_has_its_own_breaker_from_settings(
        http: aiohttp.ClientSession, sandbox_root: str) -> None:
    ups = build_upstreams(upstream_settings(upstream_breaker_failures=7,
                                            upstream_breaker_seconds=12), http, sandbox_root)
    clients = [ups.twilio, ups.telesign, ups.p2a, ups.wevote, ups.whatcounts, ups.quorum]
    breakers = [c.breaker for c in clients if c is not None]
    assert len(breakers) == 6 and len({id(b) for b in breakers}) == 6
    assert all(b is not None and (b.threshold, b.cooldown) == (7, 12) for b in breakers)


async def test_defaults_are_five_failures_and_thirty_seconds() -> None:
    settings = upstream_settings()
    assert (settings.upstream_breaker_failures, settings.upstream_breaker_seconds) == (5, 30)


async def test_opens_after_n_5xx_then_refuses_without_calling(
        guarded: Upstreams, sandbox: Sandbox, metrics: Metrics) -> None:
    sandbox.p2a.fail_next[ROUTE] = [503, 500, 503, 503]
    with capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable) as failed:
                await guarded.p2a.find_advocate(PHONE)
            assert not isinstance(failed.value, CircuitOpen)
        with pytest.raises(CircuitOpen) as refused:
            await guarded.p2a.find_advocate(PHONE)
    assert p2a_calls(sandbox) == 3  # the 4th never left
    assert refused.value.retry_after == 30
    assert gauge(metrics, "civictext_upstream_breaker_state") == BreakerState.OPEN.value
    assert gauge(metrics, "civictext_upstream_breaker_opened_total") == 1
    assert [e["event"] for e in logs if "breaker" in e["event"]] == ["upstream breaker open"]
    assert guarded.wevote.breaker is not None  # other services are not affected
    assert guarded.wevote.breaker.state is BreakerState.CLOSED


async def test_4xx_answers_and_successes_reset_the_count(guarded: Upstreams,
                                                         sandbox: Sandbox) -> None:
    sandbox.p2a.fail_next[ROUTE] = [503, 503, 400, 503, 503, 503]
    outcomes = []
    for _ in range(6):
        try:
            await guarded.p2a.find_advocate(PHONE)
            outcomes.append("ok")
        except CircuitOpen:
            outcomes.append("refused")
        except UpstreamRejected:
            outcomes.append("rejected")
        except UpstreamUnavailable:
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", "rejected", "failed", "failed", "failed"]
    assert p2a_calls(sandbox) == 6  # the 400 answered: the count started again
    assert guarded.p2a.breaker is not None
    assert guarded.p2a.breaker.state is BreakerState.OPEN


async def test_timeouts_count_as_failures(http: aiohttp.ClientSession, sandbox_root: str,
                                          sandbox: Sandbox) -> None:
    ups = build_upstreams(upstream_settings(upstream_timeout=0.05,
                                            upstream_breaker_failures=2), http, sandbox_root)
    sandbox.p2a.fail_next[ROUTE] = ["timeout", "timeout"]
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await ups.p2a.find_advocate(PHONE)
    with pytest.raises(CircuitOpen):
        await ups.p2a.find_advocate(PHONE)
    assert p2a_calls(sandbox) == 2


async def test_connection_errors_count_as_failures(http: aiohttp.ClientSession) -> None:
    ups = build_upstreams(upstream_settings(upstream_breaker_failures=2,
                                            p2a_api_base="http://127.0.0.1:9"), http,
                          "http://127.0.0.1:9")
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable) as failed:
            await ups.p2a.find_advocate(PHONE)
        assert not isinstance(failed.value, CircuitOpen)
    with pytest.raises(CircuitOpen):
        await ups.p2a.find_advocate(PHONE)


async def test_after_the_cooldown_one_probe_closes_it(
        guarded: Upstreams, sandbox: Sandbox, clock: FakeClock, metrics: Metrics) -> None:
    sandbox.p2a.fail_next[ROUTE] = [503, 503, 503]
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await guarded.p2a.find_advocate(PHONE)
    clock.now += 29
    with pytest.raises(CircuitOpen) as early:
        await guarded.p2a.find_advocate(PHONE)
    assert early.value.retry_after == pytest.approx(1.0)
    clock.now += 1
    with capture_logs() as logs:
        assert await guarded.p2a.find_advocate(PHONE) is None  # the probe: the sandbox is up
    assert p2a_calls(sandbox) == 4
    assert gauge(metrics, "civictext_upstream_breaker_state") == BreakerState.CLOSED.value
    assert [e["event"] for e in logs if "breaker" in e["event"]] == ["upstream breaker closed"]
    assert await guarded.p2a.find_advocate(PHONE) is None
    assert p2a_calls(sandbox) == 5


async def test_a_failed_probe_opens_it_for_another_cooldown(
        guarded: Upstreams, sandbox: Sandbox, clock: FakeClock, metrics: Metrics) -> None:
    sandbox.p2a.fail_next[ROUTE] = [503, 503, 503, 503]
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await guarded.p2a.find_advocate(PHONE)
    clock.now += 30
    with pytest.raises(UpstreamUnavailable) as probe:
        await guarded.p2a.find_advocate(PHONE)
    assert not isinstance(probe.value, CircuitOpen)  # the probe went out and failed
    with pytest.raises(CircuitOpen):
        await guarded.p2a.find_advocate(PHONE)
    assert p2a_calls(sandbox) == 4
    assert gauge(metrics, "civictext_upstream_breaker_opened_total") == 2


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p2a", threshold=1, cooldown=10, clock=clock)
    breaker.failed()
    clock.now += 10
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the probe is out
    breaker.abandoned()  # the probe was cancelled: nobody knows yet
    breaker.before_call()  # a new probe may go
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.before_call()
