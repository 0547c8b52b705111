"""The rally phase: many new phones text the start keyword at once while sends are paced.

`phones` phones text JOIN within `seconds` (open loop), with the server's `SMS_RATE` set;
`yes` of them answer YES at random times meanwhile and get a one-time code (the bot's own
codes, `VERIFY_PROVIDER=local`, so the code is a text through the shared bucket, in the
urgent lane). Measured at the Twilio sandbox, from each webhook's 200:

- the opt-in reply wait (first non-code text to a phone): measured for a bounded time
  after the load only (at `SMS_RATE` the whole backlog takes phones / rate seconds); the
  replies still queued then are counted, not guessed;
- the code wait of every YES phone (waited for until all came, or a bound);
- the sends per second: every 1-second window of sandbox arrival times (aligned and
  sliding), against `SMS_RATE`; and the sends a second while the backlog waits after the
  load (what pacing with a margin costs).

The analysis (`build_texts`, `analyse`, `per_second`) is pure so a test can check it.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from typing import Any

from bot.bench.phases import Cores, percentiles, phone, sid
from bot.bench.procs import http_get, http_post, run_loadgen
from bot.bench.stack import TOKEN, Sandbox, Server

YES_AFTER = 1.0  # a YES comes at least this long after its phone's JOIN
QUESTION_SLACK = 2.0  # with a rate: after the phone's question can have arrived, plus this
POLL = 0.5
AFTER_LOAD = 5.0  # s: the sends a second are taken from this long after the load


def build_texts(phones: int, yes: int, seconds: float, keyword: str,
                seed: int = 12, rate: float | None = None) -> tuple[list[list[str]], set[int]]:
    """JOIN from `phones` new phones spread evenly over `seconds`, and YES from `yes` of
    them at a random time between `YES_AFTER` s after their JOIN and the end; in time
    order (the open-loop generator sends them evenly at (phones + yes) / seconds).
    With `rate` (the sends a second), a YES comes no sooner than its phone's opt-in
    question can have arrived (the replies go out first come, first served, at `rate`, so
    the i-th phone's about i / rate s after the start, plus `QUESTION_SLACK`): a voter
    answers the question after reading it. Returns the texts [phone, body, sid] and the
    indexes of the YES texts."""
    rng = random.Random(seed)
    step = seconds / max(1, phones)
    events = [(i * step, phone(i // 100_000, i % 100_000), keyword) for i in range(phones)]

    def earliest(i: int) -> float:
        asked = i * step + YES_AFTER
        return asked if rate is None else max(asked, i / rate + QUESTION_SLACK)

    early = [i for i in range(phones) if earliest(i) < seconds - 0.5]
    for i in rng.sample(early, min(yes, len(early))):
        at = rng.uniform(earliest(i), seconds)
        events.append((at, phone(i // 100_000, i % 100_000), "YES"))
    events.sort(key=lambda e: e[0])
    texts = [[number, body, sid("R", n)] for n, (_, number, body) in enumerate(events)]
    return texts, {n for n, text in enumerate(texts) if text[1] == "YES"}


def per_second(arrivals: list[float], rate: float, after: float | None = None,
               until: float | None = None) -> dict[str, Any]:
    """Sends in every 1-second window: aligned to whole seconds of the clock, and sliding
    (any window starting at a send: covers every alignment, wall-clock seconds included),
    over the whole run, the first second too: the bound is `rate` in any of them. (One
    process's writes are bounded by its log from the first one: `bot.pace`; the shared
    bucket's burst only matters across processes, which this phase does not run.)
    With `after`/`until`: the sends a second seen between them (the pace kept while a
    backlog waits, against `rate`: what the log's margin and lag cost)."""
    times = sorted(arrivals)
    aligned: dict[int, int] = defaultdict(int)
    for t in times:
        aligned[int(t)] += 1
    sliding_max = 0
    hi = 0
    for lo, start in enumerate(times):
        while hi < len(times) and times[hi] < start + 1.0:
            hi += 1
        sliding_max = max(sliding_max, hi - lo)
    paced: float | None = None
    if after is not None and until is not None and until > after:
        paced = sum(1 for t in times if after <= t < until) / (until - after)
    return {"sends": len(times), "rate": rate,
            "max_aligned_second": max(aligned.values(), default=0),
            "max_sliding_second": sliding_max,
            "seconds_over_rate": sum(1 for n in aligned.values() if n > rate),
            # sends in each whole second from the first send's (for a look at the shape)
            "aligned_series": [aligned.get(s, 0) for s in range(min(aligned, default=0),
                                                                 max(aligned, default=-1) + 1)],
            "bound": rate, "within_bound": sliding_max <= rate,
            "sends_per_second_after_load": paced, "after_load_window_s": (
                None if paced is None else (until or 0.0) - (after or 0.0))}


def _backlog_end(sends: list[list[Any]], measured_end: float) -> float:
    """Until when a backlog surely waited: the measurement's end, or a second before the
    last send if the queue ran dry before (the last second may be partial)."""
    last = max((at for _, at in sends), default=measured_end)
    return min(measured_end, last - 1.0)


def analyse(texts: list[list[str]], yes_idx: set[int], result: dict[str, Any],
            sends: list[list[Any]], codes: list[list[Any]], rate: float,
            load_end: float, measured_end: float) -> dict[str, Any]:
    """The rally's figures from the generator's result and the sandbox's notes."""
    answered: dict[int, float] = {i: result["done"][j] for j, i in enumerate(result["index"])
                                  if result["status"][j] == 200}
    code_keys = {(to, at) for to, at in codes}
    first_reply: dict[str, float] = {}
    for to, at in sorted(sends, key=lambda s: s[1]):
        if (to, at) not in code_keys and to not in first_reply:
            first_reply[to] = at
    first_code: dict[str, float] = {}
    for to, at in sorted(codes, key=lambda s: s[1]):
        first_code.setdefault(to, at)
    join_wait, yes_wait, code_after_own_reply = [], [], []
    after_question: list[float] = []  # code waits of YES texts sent after the question came
    joins = yes = yes_after_question = 0
    for i, (number, _body, _sid) in enumerate(texts):
        if i not in answered:
            continue
        if i in yes_idx:
            yes += 1
            asked = number in first_reply and first_reply[number] < answered[i]
            yes_after_question += asked
            if number in first_code:
                yes_wait.append(first_code[number] - answered[i])
                if asked:
                    after_question.append(first_code[number] - answered[i])
                if number in first_reply and first_reply[number] < first_code[number]:
                    code_after_own_reply.append(first_code[number] - first_reply[number])
        else:
            joins += 1
            if number in first_reply:
                join_wait.append(first_reply[number] - answered[i])
    statuses = result["status"]
    span = max(result["sent"], default=result["start"]) - result["start"]
    return {
        "texts": len(texts), "joins_answered": joins, "yes_answered": yes,
        "errors": sum(1 for st in statuses if st != 200),
        "statuses": {str(st): statuses.count(st) for st in set(statuses)},
        "load_seconds": span, "achieved_text_rate": len(statuses) / max(1e-9, span),
        "optin_wait": percentiles(join_wait), "optin_replied": len(join_wait),
        "optin_still_queued": joins - len(join_wait),
        "optin_measured_after_load_s": measured_end - load_end,
        "code_wait": percentiles(yes_wait), "codes_received": len(yes_wait),
        "codes_missing": yes - len(yes_wait),
        # the YES texts sent after their phone's question had arrived (what a voter does)
        "yes_after_question": yes_after_question,
        "code_wait_after_question": percentiles(after_question),
        # codes that came after the same phone's opt-in reply, and how long after it
        # (the worker keeps one phone's effects in order)
        "codes_after_own_optin_reply": len(code_after_own_reply),
        "code_after_own_optin_reply": percentiles(code_after_own_reply),
        "rate_check": per_second([at for _, at in sends], rate, after=load_end + AFTER_LOAD,
                                 until=_backlog_end(sends, measured_end)),
    }


def rally(server: Server, sandbox: Sandbox, keyword: str, cores: Cores, phones: int,
          yes: int, seconds: float, rate: float, optin_wait: float,
          code_timeout: float) -> dict[str, Any]:
    """Run the rally against a server started with `SMS_RATE=rate`; see the module."""
    http_post(f"{sandbox.root}/_bench/reset")
    texts, yes_idx = build_texts(phones, yes, seconds, keyword, rate=rate)
    result = run_loadgen({"mode": "open", "port": server.port, "token": TOKEN,
                          "texts": texts, "rate": len(texts) / seconds,
                          "max_connections": 1000}, cores.load, timeout=seconds + 180)
    load_end = time.monotonic()
    accepted_yes = sum(1 for j, i in enumerate(result["index"])
                       if i in yes_idx and result["status"][j] == 200)
    # Codes: all of them (bounded); opt-in replies: at least `optin_wait` s after the load.
    code_deadline = load_end + code_timeout
    optin_deadline = load_end + optin_wait
    while True:
        now = time.monotonic()
        counts = json.loads(http_get(f"{sandbox.root}/_bench/count"))
        codes_done = counts["codes"] >= accepted_yes
        if (codes_done or now > code_deadline) and now > optin_deadline:
            break
        time.sleep(POLL)
    measured_end = time.monotonic()
    notes = json.loads(http_get(f"{sandbox.root}/_bench/sends", timeout=60))
    out = analyse(texts, yes_idx, result, notes["sends"], notes["codes"], rate, load_end,
                  measured_end)
    out.update({"phones": phones, "yes_phones": yes, "seconds": seconds, "sms_rate": rate,
                "optin_wait_bound_s": optin_wait, "code_timeout_s": code_timeout})
    return out
