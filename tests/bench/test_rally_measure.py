"""The rally phase's measurement on made-up notes: which texts it builds, which send it
takes for an opt-in reply or a code, what it counts as queued, and the per-second check.
No timing: the figures of a real run are in docs/performance.md."""

from __future__ import annotations

from typing import Any

from bot.bench.rally import analyse, build_texts, per_second


def test_texts_are_joins_then_yes_from_the_same_phones_later() -> None:
    texts, yes_idx = build_texts(phones=50, yes=5, seconds=10.0, keyword="JOIN")
    assert len(texts) == 55 and len(yes_idx) == 5
    joins = [i for i, t in enumerate(texts) if t[1] == "JOIN"]
    assert len({texts[i][0] for i in joins}) == 50  # every phone is new
    for i in yes_idx:
        join_at = next(j for j in joins if texts[j][0] == texts[i][0])
        assert join_at < i  # the YES comes after its phone's JOIN
    assert len({t[2] for t in texts}) == 55  # distinct message sids


def _result(texts: list[list[str]], done: list[float], status: list[int]) -> dict[str, Any]:
    return {"start": 0.0, "index": list(range(len(texts))), "status": status,
            "due": done, "sent": done, "done": done}


def test_waits_run_from_the_200_to_the_sandbox_and_codes_are_told_apart() -> None:
    texts = [["+1a", "JOIN", "s0"], ["+1b", "JOIN", "s1"], ["+1c", "JOIN", "s2"],
             ["+1a", "YES", "s3"]]
    result = _result(texts, done=[0.0, 0.5, 1.0, 2.0], status=[200, 200, 200, 200])
    codes = [["+1a", 2.25]]
    sends = [["+1a", 1.0], ["+1b", 3.5], ["+1a", 2.25], ["+1a", 4.0]]  # +1c: still queued
    out = analyse(texts, {3}, result, sends, codes, rate=100.0, load_end=1.0,
                  measured_end=5.0)
    assert out["optin_wait"]["n"] == 2
    assert out["optin_wait"]["max_ms"] == 3000.0  # +1b: 3.5 - 0.5
    assert out["optin_still_queued"] == 1
    assert out["code_wait"]["n"] == 1 and out["code_wait"]["max_ms"] == 250.0
    assert out["codes_missing"] == 0
    assert out["codes_after_own_optin_reply"] == 1  # +1a's reply came at 1.0, its code at 2.25
    assert out["optin_measured_after_load_s"] == 4.0
    assert out["rate_check"]["sends"] == 4


def test_a_refused_text_is_an_error_and_a_missing_code_is_counted() -> None:
    texts = [["+1a", "JOIN", "s0"], ["+1a", "YES", "s1"], ["+1b", "JOIN", "s2"]]
    result = _result(texts, done=[0.0, 1.0, 1.5], status=[200, 200, 503])
    out = analyse(texts, {1}, result, [["+1a", 0.5]], [], rate=10.0, load_end=2.0,
                  measured_end=3.0)
    assert out["errors"] == 1 and out["statuses"] == {"200": 2, "503": 1}
    assert out["joins_answered"] == 1 and out["codes_missing"] == 1


def test_per_second_finds_the_busiest_window_whatever_its_alignment() -> None:
    rate = 10.0
    # 10 sends a second from t=100, then 12 squeezed into 0.5..1.4 s across a boundary.
    steady = [100 + i / 10 for i in range(30)]
    squeeze = [130.5 + i * 0.075 for i in range(12)]
    check = per_second(steady + squeeze, rate)
    assert check["max_sliding_second"] >= 12  # seen although no whole second holds 12
    assert check["max_aligned_second"] < check["max_sliding_second"]
    assert not check["within_bound"]  # > rate in one sliding second
    assert per_second(steady, rate)["within_bound"]


def test_the_first_second_is_held_to_the_rate_too() -> None:
    rate = 100.0  # one process: its log bounds its first second as every other
    first = [i * 0.001 for i in range(101)]  # a full bucket's burst and its refill
    check = per_second(first + [1.5 + i / 100 for i in range(100)], rate)
    assert check["max_sliding_second"] == 101 and not check["within_bound"]
    assert check["max_aligned_second"] == 101 and check["seconds_over_rate"] == 1
    assert per_second(first[:100] + [1.5 + i / 100 for i in range(100)], rate)["within_bound"]


def test_the_pace_after_the_load_is_counted_between_its_bounds() -> None:
    sends = [10 + i / 95 for i in range(950)]  # 95 a second from t=10 to 20
    check = per_second(sends, 100.0, after=12.0, until=18.0)
    assert abs(check["sends_per_second_after_load"] - 95.0) < 0.5
    assert check["after_load_window_s"] == 6.0
    assert per_second(sends, 100.0)["sends_per_second_after_load"] is None


def test_with_a_rate_a_yes_comes_after_its_phone_can_have_had_the_question() -> None:
    texts, yes_idx = build_texts(phones=1000, yes=20, seconds=10.0, keyword="JOIN", rate=100)
    order = [t[0] for t in texts if t[1] == "JOIN"]
    step = 10.0 / 1000
    for i in yes_idx:  # the YES's place in time order, against its phone's reply time
        position = order.index(texts[i][0])
        sent_by = i * (10.0 / len(texts))  # the generator's even pace
        assert sent_by >= position / 100 + 2.0 - 20 * step  # within the generator's spread


def test_the_code_wait_after_the_question_counts_only_yes_sent_after_the_reply() -> None:
    texts = [["+1a", "JOIN", "s0"], ["+1b", "JOIN", "s1"], ["+1a", "YES", "s2"],
             ["+1b", "YES", "s3"]]
    result = _result(texts, done=[0.0, 0.1, 2.0, 2.1], status=[200] * 4)
    sends = [["+1a", 1.0], ["+1a", 2.5], ["+1b", 3.0], ["+1b", 3.2]]  # +1b: asked after YES
    codes = [["+1a", 2.5], ["+1b", 3.2]]
    out = analyse(texts, {2, 3}, result, sends, codes, rate=100.0, load_end=2.1,
                  measured_end=4.0)
    assert out["yes_after_question"] == 1
    assert out["code_wait_after_question"]["n"] == 1
    assert out["code_wait_after_question"]["max_ms"] == 500.0  # +1a: 2.5 - 2.0
    assert out["code_wait"]["n"] == 2
