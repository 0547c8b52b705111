"""The numbers staff ask for, read from the counters the commits and callbacks keep.

The funnel per flow and per campaign per day, delivery per day (delivered and failed rates,
failures per error code, Quorum's unknown statuses) and the subscriber count: for
`python -m bot stats`, the console's overview and the totals `/metrics` exports.

Funnel numbers are phones (`bot.reached`): a day's are the distinct phones that reached each
state or milestone that day; the all-time totals, the phones that ever did (so the days do
not add up to the total when a phone comes back on another day).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from bot.funnel import ORDER
from bot.redis_conn import RedisClient
from bot.store.delivery import QUORUM, DeliveryLedger
from bot.store.keys import Keys
from bot.store.subscribers import SubscriberIndex

Counts = dict[str, int]


@dataclass
class Funnel:
    """Phones of one flow or campaign: per state they entered (`states`) and per
    milestone (`milestones`)."""

    states: Counts = field(default_factory=dict)
    milestones: Counts = field(default_factory=dict)


@dataclass
class DayStats:
    """One UTC day (or `total`)."""

    day: str
    flows: dict[str, Funnel] = field(default_factory=dict)
    campaigns: dict[str, Funnel] = field(default_factory=dict)
    delivery: Counts = field(default_factory=dict)

    @property
    def settled(self) -> int:
        return self.delivery.get("delivered", 0) + self.delivery.get("failed", 0)

    def rate(self, status: str) -> float | None:
        """Share of settled texts with this final status (None: nothing settled)."""
        return self.delivery.get(status, 0) / self.settled if self.settled else None

    def failures_by_code(self) -> Counts:
        return {k.split(":", 1)[1]: v for k, v in self.delivery.items()
                if k.startswith("failed:")}

    def quorum_statuses(self) -> Counts:
        """Texts seen in each Quorum status (its number; the meanings are unpublished, so
        these texts are in neither rate)."""
        return {k.removeprefix(QUORUM): v for k, v in self.delivery.items()
                if k.startswith(QUORUM)}


@dataclass
class Report:
    days: list[DayStats]
    total: DayStats
    subscribers: int


def days_back(now: float, days: int) -> list[str]:
    """The last `days` UTC days ending with today's, oldest first."""
    today = datetime.fromtimestamp(now, UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


class StatsReader:
    """Sums the per-shard counters (one pipelined round trip per day)."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.deliveries = DeliveryLedger(redis, keys)

    async def funnel_counts(self, day: str) -> Counts:
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.keys.all_shards():
                pipe.hgetall(self.keys.funnel(shard, day))
            replies: list[Any] = await pipe.execute()
        out: Counts = defaultdict(int)
        for reply in replies:
            for name, value in (reply or {}).items():
                out[name.decode()] += int(value)
        return dict(out)

    async def day(self, day: str) -> DayStats:
        stats = DayStats(day=day, delivery=await self.deliveries.counts(day))
        for name, count in (await self.funnel_counts(day)).items():
            kind, owner, mark = name.split("|", 2)
            table = stats.flows if kind == "f" else stats.campaigns
            funnel = table.setdefault(owner, Funnel())
            if mark.startswith("@"):
                funnel.milestones[mark[1:]] = count
            else:
                funnel.states[mark] = count
        return stats

    async def subscribers(self) -> int:
        return await SubscriberIndex(self.redis, self.keys).count()

    async def report(self, days: int, now: float) -> Report:
        return Report(days=[await self.day(d) for d in days_back(now, days)],
                      total=await self.day("total"), subscribers=await self.subscribers())


def _milestone_line(funnel: Funnel) -> str:
    return "  ".join(f"{m}={funnel.milestones.get(m, 0)}" for m in ORDER)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def format_report(report: Report) -> str:
    """The report as plain text for the terminal."""
    lines = [f"subscribers now: {report.subscribers}",
             "funnel: phones (per day: distinct phones that day; all time: phones ever)", ""]
    for stats in [*report.days, report.total]:
        title = "all time" if stats.day == "total" else stats.day
        lines.append(f"== {title}")
        for name, funnel in sorted(stats.flows.items()):
            lines.append(f"  flow {name}: {_milestone_line(funnel)}")
            states = ", ".join(f"{s}={n}" for s, n in sorted(funnel.states.items()))
            if states:
                lines.append(f"    states: {states}")
        for name, funnel in sorted(stats.campaigns.items()):
            lines.append(f"  campaign {name}: {_milestone_line(funnel)}")
        d = stats.delivery
        lines.append(f"  texts: sent={d.get('sent', 0)} delivered={d.get('delivered', 0)} "
                     f"({_pct(stats.rate('delivered'))}) failed={d.get('failed', 0)} "
                     f"({_pct(stats.rate('failed'))})")
        codes = stats.failures_by_code()
        if codes:
            lines.append("    failed by error code: " + ", ".join(
                f"{code}={n}" for code, n in sorted(codes.items())))
        quorum = stats.quorum_statuses()
        if quorum:
            lines.append("    Quorum texts (status meanings unpublished; in neither rate): "
                         + ", ".join(f"unknown status {code}={n}"
                                     for code, n in sorted(quorum.items())))
    return "\n".join(lines)


class TotalsGauges:
    """The all-time totals as Prometheus gauges, refreshed from Redis on every scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.funnel = Gauge("civictext_funnel_total",
                            "Phones that ever reached each state or @milestone, per flow",
                            ["flow", "step"], registry=registry)
        self.campaign = Gauge("civictext_campaign_funnel_total",
                              "Phones that ever reached each milestone, per campaign",
                              ["campaign", "step"], registry=registry)
        self.delivery = Gauge("civictext_texts_total",
                              "Sent texts by final delivery status (all time)",
                              ["status"], registry=registry)
        self.failed = Gauge("civictext_texts_failed_by_code_total",
                            "Failed texts per provider error code (all time)", ["code"],
                            registry=registry)
        self.subscribers = Gauge("civictext_subscribers", "Phones opted in now",
                                 registry=registry)
        self.quorum = Gauge("civictext_texts_quorum_status_total",
                            "Texts seen in each Quorum status (all time; the meanings are "
                            "unpublished: unknown status N)", ["status"], registry=registry)

    async def refresh(self, reader: StatsReader) -> None:
        total = await reader.day("total")
        for flow, funnel in total.flows.items():
            for step, count in {**funnel.states,
                                **{"@" + m: n for m, n in funnel.milestones.items()}}.items():
                self.funnel.labels(flow, step).set(count)
        for campaign, funnel in total.campaigns.items():
            for step, count in funnel.milestones.items():
                self.campaign.labels(campaign, step).set(count)
        for status in ("sent", "delivered", "failed"):
            self.delivery.labels(status).set(total.delivery.get(status, 0))
        for code, count in total.failures_by_code().items():
            self.failed.labels(code).set(count)
        for code, count in total.quorum_statuses().items():
            self.quorum.labels(code).set(count)
        self.subscribers.set(await reader.subscribers())
