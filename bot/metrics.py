"""Prometheus metrics, on a registry of the app's own (no global default registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.stats import TotalsGauges
from bot.upstream.breaker import BreakerState

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Every metric the bot exports at `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.inbound = Counter("civictext_inbound_total", "Inbound texts by provider and outcome",
                               ["provider", "outcome"], registry=r)
        self.webhook_seconds = Histogram("civictext_webhook_seconds", "Webhook answer time",
                                         ["provider"], buckets=_FAST, registry=r)
        self.cas_retries = Counter("civictext_cas_retries_total",
                                   "Version clashes retried while committing a step", registry=r)
        self.steps = Counter("civictext_steps_total", "Engine steps by note", ["note"],
                             registry=r)
        self.effects = Counter("civictext_effects_total", "Effects run by type and outcome",
                               ["type", "outcome"], registry=r)
        self.effect_seconds = Histogram("civictext_effect_seconds", "Time to run one effect",
                                        ["type"], buckets=_FAST, registry=r)
        self.sends_refused = Counter("civictext_sends_refused_total",
                                     "Texts the send layer refused", ["reason"], registry=r)
        self.delivery = Counter("civictext_delivery_status_total",
                                "Delivery status callbacks", ["provider", "status"], registry=r)
        self.dead_letters = Counter("civictext_dead_letters_total",
                                    "Effects given up on after their last try", registry=r)
        self.codes_refused = Counter("civictext_codes_refused_total",
                                     "Verification codes not sent: per-phone limit or breaker",
                                     ["reason"], registry=r)
        self.code_breaker_trips = Counter("civictext_code_breaker_trips_total",
                                          "Times the total code rate paused code sends",
                                          registry=r)
        self.halted = Counter("civictext_conversations_halted_total",
                              "Conversations ended by a run-time bound (a flow looping or "
                              "calling actions too often)", ["bound"], registry=r)
        self.worker_busy = Gauge("civictext_worker_inflight", "Effects running now", registry=r)
        self.worker_shards = Gauge("civictext_worker_shards",
                                   "Outbox shards this process's worker reads now (its leases)",
                                   registry=r)
        self.breaker_state = Gauge("civictext_upstream_breaker_state",
                                   "Circuit breaker per upstream: 0 closed, 1 open, 2 half-open",
                                   ["service"], registry=r)
        self.breaker_opened = Counter("civictext_upstream_breaker_opened_total",
                                      "Times an upstream's circuit breaker opened", ["service"],
                                      registry=r)
        self.totals = TotalsGauges(r)  # refreshed from Redis by each /metrics scrape

    def breaker_changed(self, service: str, state: BreakerState) -> None:
        """A breaker moved (`CircuitBreaker.on_change`)."""
        self.breaker_state.labels(service).set(state.value)
        if state is BreakerState.OPEN:
            self.breaker_opened.labels(service).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
