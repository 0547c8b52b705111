"""The printed table: each figure, its target and PASS/FAIL, from the results dictionary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TARGETS = {
    "inbound_ratio": 0.35,  # bot's inbound rate / bare aiohttp's, same core
    "floor_ratio": 0.7,  # bot's webhook alone (worker separate) / the floor app's
    "answer_p99_ms": 15.0,  # at 1,000 texts/s offered, no errors
    "answer_rate": 1000.0,  # the offered rate that target is set at
    "actions_per_s": 1000.0,  # against 50 ms sandboxes
    "bytes_per_conversation": 1024.0,
    "engine_step_us": 30.0,
    "rally_code_p99_ms": 10_000.0,  # verification code wait during the rally
}

Row = tuple[str, str, str, str]


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def _ms(p: dict[str, Any] | None) -> str:
    if not p or not p.get("n"):
        return "-"
    return f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f} / {p['max_ms']:.1f} ms"


Add = Callable[[str, str, str, bool | None], None]


def rows(results: dict[str, Any]) -> list[Row]:
    """One row per figure, in the order of the issue's list."""
    out: list[Row] = []

    def add(figure: str, value: str, target: str, ok: bool | None) -> None:
        out.append((figure, value, target, _verdict(ok)))

    for section in (_throughput, _latency, _cluster, _burst, _effects, _memory, _engine,
                    _rally):
        section(results, add)
    return out


def _throughput(results: dict[str, Any], add: Add) -> None:
    tp = results.get("throughput")
    if not tp:
        return
    bot, bare = tp["bot"], tp["bare"]
    ratio = bot["rate_per_s"] / max(1e-9, bare["rate_per_s"])
    tp["ratio"] = ratio
    label = {"inprocess": "worker in-process", "separate": "worker separate",
             "off": "NO worker"}[results["meta"].get("worker", "inprocess")]
    add(f"1 inbound, bot (signed, Redis, {label})",
        f"{bot['rate_per_s']:,.0f} texts/s (core {bot['server_cpu_share']:.0%} busy)", "", None)
    add("1 inbound, bare aiohttp (parse + TwiML)",
        f"{bare['rate_per_s']:,.0f} req/s (core {bare['server_cpu_share']:.0%} busy)", "", None)
    add("1 bot / bare, same core", f"{ratio:.1%}", f">= {TARGETS['inbound_ratio']:.0%}",
        ratio >= TARGETS["inbound_ratio"])
    floor = tp.get("floor")
    if floor:
        _floor(results, bot, floor, add)
    add("1 bot incl. worker catch-up (end to end)",
        f"{bot['end_to_end_rate_per_s']:,.0f} texts/s", "", None)
    add("1 server CPU per text: bot (all in) / bare",
        f"{bot['server_cpu_us_per_text']:,.0f} us / "
        f"{bare.get('server_cpu_us_per_request', 0):,.0f} us", "", None)
    add("1 bot answer p50 / p99 / max (closed loop)", _ms(bot["latency"]), "", None)
    errors = sum(n for status, n in bot["statuses"].items() if status != "200")
    add("1 errors (non-200)", str(errors), "0", errors == 0)


def _floor(results: dict[str, Any], bot: dict[str, Any], floor: dict[str, Any],
           add: Add) -> None:
    """The floor app's rate and bot / floor; judged only for the webhook alone (the worker in
    its own process), since an in-process worker shares the server's core."""
    ratio = bot["rate_per_s"] / max(1e-9, floor["rate_per_s"])
    results["throughput"]["floor_ratio"] = ratio
    separate = results["meta"].get("worker") in ("separate", "off")
    runs = floor.get("runs", [])
    around = (f"; {runs[0]['rate_per_s']:,.0f} before the bot, {runs[1]['rate_per_s']:,.0f} "
              "after" if len(runs) == 2 else "")
    add("1 inbound, floor (signature + 1 Lua script)",
        f"{floor['rate_per_s']:,.0f} req/s (core {floor['server_cpu_share']:.0%} busy{around})",
        "", None)
    rounds = results["throughput"].get("rounds", [])
    ratios = " / ".join(format(r["ratio"], ".1%") for r in rounds)
    each = f" (median of {len(rounds)} rounds: {ratios})" if len(rounds) > 1 else ""
    add("1 bot / floor" + ("" if separate else " (worker in-process: not judged)"),
        f"{ratio:.1%}{each}", f">= {TARGETS['floor_ratio']:.0%}" if separate else "",
        ratio >= TARGETS["floor_ratio"] if separate else None)
    add("1 server CPU per text: bot webhook / floor",
        f"{bot['server_cpu_us_per_text']:,.0f} us / "
        f"{floor.get('server_cpu_us_per_request', 0):,.0f} us", "", None)


def _latency(results: dict[str, Any], add: Add) -> None:
    lat = results.get("latency")
    if not lat:
        return
    p99 = _get(lat, "answer", "p99_ms")
    judged = lat["offered_rate"] == TARGETS["answer_rate"]  # `--rate`: reported, not judged
    ok = p99 is not None and p99 < TARGETS["answer_p99_ms"] and lat["errors"] == 0
    add(f"2 answer p50 / p99 / max @ {lat['offered_rate']:,.0f}/s open loop",
        _ms(lat["answer"]),
        f"p99 < {TARGETS['answer_p99_ms']:.0f} ms" if judged
        else f"(target at {TARGETS['answer_rate']:,.0f}/s)", ok if judged else None)
    add("2   the same without its first second", _ms(lat.get("answer_after_first_second")),
        "", None)
    add("2 errors (non-200) at that rate", str(lat["errors"]), "0", lat["errors"] == 0)
    add("2 server core busy (of which other processes)",
        f"{lat['server_core_busy']:.0%} ({lat['server_core_other_processes']:.0%})", "", None)
    add("2 text -> reply at Twilio p50 / p99 / max", _ms(lat["text_to_reply"]), "", None)
    add("2 replies matched / unmatched",
        f"{lat['replies_matched']:,} / {lat['replies_unmatched']:,}", "", None)


def _cluster(results: dict[str, Any], add: Add) -> None:
    """`--redis cluster`: each figure on single Redis and on the cluster, side by side."""
    cluster = results.get("cluster")
    if not cluster:
        return
    single_tp, cluster_tp = _get(results, "throughput", "bot"), cluster.get("throughput")
    if single_tp and cluster_tp:
        add("C inbound texts/s: single / cluster",
            f"{single_tp['rate_per_s']:,.0f} / {cluster_tp['rate_per_s']:,.0f}", "", None)
        add("C server CPU per text: single / cluster",
            f"{single_tp['server_cpu_us_per_text']:,.0f} / "
            f"{cluster_tp['server_cpu_us_per_text']:,.0f} us", "", None)
        errors = sum(n for st, n in cluster_tp["statuses"].items() if st != "200")
        add("C errors (non-200) on the cluster", str(errors), "0", errors == 0)
    single_lat, cluster_lat = results.get("latency"), cluster.get("latency")
    waiting = cluster.get("latency_wait_replica")
    for label, lat in (("single", single_lat), ("cluster", cluster_lat),
                       ("cluster + WAIT 1 replica", waiting)):
        if lat:
            add(f"C answer p50 / p99 / max @ {lat['offered_rate']:,.0f}/s, {label}",
                _ms(lat["answer"]),
                f"core {lat['server_core_busy']:.0%} ({lat['server_core_other_processes']:.0%}"
                " others)", None)
    for label, lat in (("cluster", cluster_lat), ("cluster + WAIT 1 replica", waiting)):
        if lat:
            add(f"C errors (non-200) at that rate, {label}", str(lat["errors"]), "0",
                lat["errors"] == 0)


def _burst(results: dict[str, Any], add: Add) -> None:
    burst = results.get("burst")
    if not burst:
        return
    once = bool(burst["applied_exactly_once"])
    add(f"3 burst: {burst['texts']} texts from one phone at once",
        f"texts_in {burst['texts_in']}, version {burst['version']}",
        f"texts_in = {burst['texts']}", once)
    add("3 burst: CAS retries / 5xx / resent deduped",
        f"{burst['cas_retries']:.0f} / {burst['five_xx']} / "
        f"{burst['duplicates_seen']:.0f} of {burst['resent']}", "5xx = 0",
        burst["five_xx"] == 0)
    add("3 burst: answer p50 / p99 / max", _ms(burst["answer"]), "", None)


def _effects(results: dict[str, Any], add: Add) -> None:
    fx = results.get("effects")
    if not fx:
        return
    add(f"4 worker actions/s (50 ms upstreams, concurrency {fx['worker_concurrency']})",
        f"{fx['rate_per_s']:,.0f} /s", f">= {TARGETS['actions_per_s']:,.0f}",
        fx["rate_per_s"] >= TARGETS["actions_per_s"])
    add("4 completed ok / total, upstream calls per action",
        f"{fx['ok']:,.0f} / {fx['completed']:,.0f}, {fx['upstream_calls_per_action']:.2f}",
        "ok = total, 0 dead",
        fx["ok"] >= fx["completed"] and not fx.get("dead_letters"))


def _memory(results: dict[str, Any], add: Add) -> None:
    mem = results.get("memory")
    if mem:
        per = mem["after_reply"]["bytes_per_conversation"]
        add(f"5 Redis bytes/conversation ({mem['conversations']:,}: keyword, then YES)",
            f"{per:,.0f} B", f"<= {TARGETS['bytes_per_conversation']:,.0f} B",
            per <= TARGETS["bytes_per_conversation"])
        add("5 Redis bytes/conversation (keyword only)",
            f"{mem['after_keyword']['bytes_per_conversation']:,.0f} B", "", None)
    rss = results.get("server_rss")
    if rss:
        mib = {k: v / 2**20 for k, v in rss["after"].items()}
        add("5 server RSS idle / after phases 1-3 (peak)",
            f"{rss['idle'].get('VmRSS', 0) / 2**20:.0f} / {mib.get('VmRSS', 0):.0f}"
            f" ({mib.get('VmHWM', 0):.0f}) MiB", "", None)


def _engine(results: dict[str, Any], add: Add) -> None:
    eng = results.get("engine")
    if not eng:
        return
    us = eng["us_per_step"][eng["target_path"]]
    add("6 engine step, opt-in reply (YES)", f"{us:.1f} us",
        f"< {TARGETS['engine_step_us']:.0f} us", us < TARGETS["engine_step_us"])
    others = ", ".join(f"{k} {v:.0f}" for k, v in eng["us_per_step"].items()
                       if k != eng["target_path"])
    add("6 other paths (us)", others, "", None)


def _rally(results: dict[str, Any], add: Add) -> None:
    ral = results.get("rally")
    if not ral:
        return
    add(f"7 rally: {ral['phones']:,} phones in {ral['seconds']:.0f} s, SMS_RATE "
        f"{ral['sms_rate']:g}", f"sent in {ral['load_seconds']:.1f} s "
        f"({ral['achieved_text_rate']:,.0f} texts/s), {ral['errors']} non-200", "0 non-200",
        ral["errors"] == 0)
    add(f"7 opt-in reply wait p50 / p99 / max ({ral['optin_replied']:,} replied)",
        _ms(ral["optin_wait"]), "", None)
    add("7 opt-in replies still queued when measuring stopped",
        f"{ral['optin_still_queued']:,} ({ral['optin_measured_after_load_s']:.0f} s after "
        "the load)", "", None)
    add(f"7 code wait p50 / p99 / max, every YES ({ral['codes_received']} of "
        f"{ral['codes_received'] + ral['codes_missing']} came)", _ms(ral["code_wait"]), "",
        None)
    asked = ral.get("code_wait_after_question") or {}
    p99 = asked.get("p99_ms")
    ok = p99 is not None and p99 < TARGETS["rally_code_p99_ms"] and ral["codes_missing"] == 0
    add(f"7 code wait p50 / p99 / max, YES after the question ({asked.get('n', 0)} of "
        f"{ral.get('yes_after_question', 0)})", _ms(asked) if asked else "-",
        f"p99 < {TARGETS['rally_code_p99_ms'] / 1000:.0f} s, none missing", ok)
    rc = ral["rate_check"]
    add("7 sends in any 1 s window (sliding, whole run) / aligned second",
        f"{rc['max_sliding_second']} / {rc['max_aligned_second']}",
        f"<= SMS_RATE = {rc['bound']:g}", rc["within_bound"])
    paced = rc.get("sends_per_second_after_load")
    if paced is not None:
        add("7 sends a second while the backlog waits, after the load",
            f"{paced:.1f} (over {rc['after_load_window_s']:.0f} s)", "", None)


def table(results: dict[str, Any]) -> str:
    body = rows(results)
    head: Row = ("figure", "value", "target", "")
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip()
             for r in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    results["verdicts"] = {r[0]: r[3] for r in body if r[3]}
    return "\n".join(lines)
