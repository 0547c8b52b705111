"""The engine alone: microseconds per `bot.engine.step` on the shipped flows, and a profile.

No I/O: the conversation is built in memory, the step is called in a tight loop (the input
conversation is never mutated by `step`, so the same one is reused), with the ids the
server uses (`RandomIds`) and a fixed clock.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable
from typing import Any

from bot.clock import RandomIds
from bot.config import Settings
from bot.engine import Rules, step
from bot.flow import FlowSet
from bot.models import Conversation, Inbound
from bot.runtime import load_flows

NOW = 1_764_000_000.0
PHONE = "+12025550123"


def _inbound(body: str, n: int = 1) -> Inbound:
    return Inbound(provider="twilio", message_id=f"SM{n:032d}", phone=PHONE, body=body,
                   received_at=NOW)


def scenarios(flows: FlowSet, rules: Rules) -> dict[str, tuple[Conversation, Inbound]]:
    """The paths measured: the opt-in reply (the target), a start, a reprompt, HELP, STOP."""
    ids = RandomIds()
    fresh = Conversation(phone=PHONE)
    keyword = next(iter(flows.keywords))
    optin = step(flows, fresh, _inbound(keyword), NOW, ids, rules).conversation
    optin = optin.model_copy(update={"version": 1})
    return {
        "optin_reply_yes": (optin, _inbound("YES", 2)),
        "start_keyword": (fresh, _inbound(keyword, 3)),
        "optin_reprompt": (optin, _inbound("maybe later", 4)),
        "help": (optin, _inbound("HELP", 5)),
        "stop": (optin, _inbound("STOP", 6)),
    }


def _time_per_call(fn: Callable[[], object], seconds: float, max_calls: int) -> float:
    """Seconds per call: the best of 5 rounds (each bounded in time and count)."""
    for _ in range(200):  # warm-up: caches, first-call costs
        fn()
    best = float("inf")
    for _ in range(5):
        calls = 0
        started = time.perf_counter()
        deadline = started + seconds / 5
        while calls < max_calls:
            for _ in range(100):
                fn()
            calls += 100
            if time.perf_counter() >= deadline:
                break
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def measure(settings: Settings, seconds: float = 2.0) -> dict[str, Any]:
    """µs per step for each scenario, and the profile of the target one."""
    flows = load_flows(settings)
    rules = Rules(program=settings.program_name, help_contact=settings.help_contact)
    ids = RandomIds()
    per_step: dict[str, float] = {}
    notes: dict[str, str] = {}
    for name, (conv, event) in scenarios(flows, rules).items():
        notes[name] = step(flows, conv, event, NOW, ids, rules).note

        def call(conv: Conversation = conv, event: Inbound = event) -> object:
            return step(flows, conv, event, NOW, ids, rules)

        per_step[name] = _time_per_call(call, seconds / 5, 200_000) * 1e6
    conv, event = scenarios(flows, rules)["optin_reply_yes"]
    calls = max(2_000, int(seconds * 10_000))
    return {"us_per_step": per_step, "notes": notes, "target_path": "optin_reply_yes",
            "profile": profile(lambda: step(flows, conv, event, NOW, ids, rules), calls)}


def profile(fn: Callable[[], object], calls: int = 20_000) -> dict[str, Any]:
    """cProfile of `calls` calls: the top functions by own time, and time by package."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    rows = []
    by_package: dict[str, float] = {}
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in raw.items():
        package = _package(filename)
        by_package[package] = by_package.get(package, 0.0) + tottime
        rows.append({"function": f"{_short(filename)}:{line}({func})", "calls_per_step":
                     ncalls / calls, "own_share": tottime / total, "cum_us_per_step":
                     cumtime / calls * 1e6})
    step_cum = max((float(r["cum_us_per_step"]) for r in rows
                    if str(r["function"]).endswith("(step)")), default=0.0) or 1.0
    by_cum = sorted(rows, key=lambda r: -float(r["cum_us_per_step"]))
    inclusive = [{"function": r["function"],
                  "share_of_step": round(float(r["cum_us_per_step"]) / step_cum, 3)}
                 for r in by_cum if float(r["cum_us_per_step"]) <= step_cum][:20]
    rows.sort(key=lambda r: -float(r["own_share"]))
    shares = {k: round(v / total, 3) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])}
    return {"calls": calls, "top_own_time": rows[:15], "own_time_by_package": shares,
            "top_inclusive": inclusive,
            "note": "cProfile adds overhead per call; read shares, not absolute times"}


def _package(filename: str) -> str:
    for marker in ("transitions", "pydantic", "bot/", "logging", "uuid", "enum", "copy"):
        if marker in filename:
            return marker.rstrip("/") if marker != "bot/" else "bot"
    return "builtins/other" if filename.startswith("~") or "<" in filename else filename.rsplit(
        "/", 1)[-1]


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/bot/", "/lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
