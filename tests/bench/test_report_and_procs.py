"""The bench's table judges the latency target only at the rate it is set at, and a child
process counts as started only once its start-up CPU is spent (`Proc.wait_idle`)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.bench import _parser, phases, report
from bot.bench.procs import Proc, Procs


def _latency(rate: float, p99: float, errors: int = 0) -> dict[str, Any]:
    spread = {"n": 100, "p50_ms": 1.0, "p99_ms": p99, "max_ms": p99 + 1}
    return {"latency": {"offered_rate": rate, "answer": spread,
                        "answer_after_first_second": spread, "errors": errors,
                        "server_core_busy": 0.5, "server_core_other_processes": 0.0,
                        "text_to_reply": spread, "replies_matched": 100,
                        "replies_unmatched": 0}}


def _row(results: dict[str, Any], start: str) -> tuple[str, str, str, str]:
    return next(r for r in report.rows(results) if r[0].startswith(start))


@pytest.mark.parametrize(("p99", "verdict"), [(9.0, "PASS"), (40.0, "FAIL")])
def test_the_latency_target_is_judged_at_its_own_rate(p99: float, verdict: str) -> None:
    row = _row(_latency(1000.0, p99), "2 answer p50")
    assert row[2] == "p99 < 15 ms" and row[3] == verdict


@pytest.mark.parametrize("p99", [9.0, 40.0])
def test_another_rate_is_reported_but_not_judged(p99: float) -> None:
    row = _row(_latency(400.0, p99), "2 answer p50")
    assert "@ 400/s" in row[0] and f"{p99:.1f}" in row[1]
    assert row[2] == "(target at 1,000/s)" and row[3] == ""
    # Errors are judged at any rate: none is the target everywhere.
    assert _row(_latency(400.0, p99, errors=3), "2 errors")[3] == "FAIL"


def test_the_rate_option_reaches_the_plan() -> None:
    assert _parser().parse_args(["--rate", "400"]).rate == 400.0
    assert _parser().parse_args([]).rate is None


@contextlib.contextmanager
def _child(tmp_path: Path, code: str) -> Iterator[Proc]:
    """A Python child running `code`, stopped at the end."""
    procs = Procs(tmp_path)
    try:
        yield procs.start("child", [sys.executable, "-c", code], {}, None)
    finally:
        procs.close()


def test_wait_idle_returns_after_start_up_work_not_before(tmp_path: Path) -> None:
    busy_for = 0.6  # a start-up burning CPU, then waiting for work
    code = (f"import time\nend = time.process_time() + {busy_for}\n"
            "while time.process_time() < end: pass\ntime.sleep(30)\n")
    with _child(tmp_path, code) as proc:
        started = time.monotonic()
        assert proc.wait_idle(timeout=20)
        assert time.monotonic() - started >= busy_for * 0.8
        assert proc.cpu_seconds() >= busy_for * 0.8


def test_wait_idle_answers_false_for_a_child_that_stays_busy(tmp_path: Path) -> None:
    with _child(tmp_path, "while True: pass") as proc:
        assert not proc.wait_idle(timeout=1.0)


def test_wait_idle_says_so_when_the_child_dies(tmp_path: Path) -> None:
    with _child(tmp_path, "raise SystemExit(3)") as proc, \
            pytest.raises(RuntimeError, match="exited"):
        proc.wait_idle(timeout=20)


def _run(rate: float, cpu_us: float = 500.0) -> dict[str, Any]:
    return {"rate_per_s": rate, "server_cpu_share": 0.9, "server_cpu_us_per_request": cpu_us,
            "server_cpu_us_per_text": cpu_us}


def test_rounds_judge_the_median_round_against_its_own_two_floors() -> None:
    """Each bot run is held to the mean of the floor runs just before and after it; the
    verdict is the median round's, whatever order the rounds came in."""
    bots = [_run(700.0), _run(900.0), _run(500.0)]
    floors = [_run(1000.0), _run(1000.0), _run(800.0), _run(1200.0)]
    out = phases.rounds(bots, floors)
    assert [round(r["ratio"], 3) for r in out["rounds"]] == [0.7, 1.0, 0.5]
    assert out["bot"]["rate_per_s"] == 700.0 and out["floor"]["rate_per_s"] == 1000.0
    results = {"meta": {"worker": "separate"},
               "throughput": {"bare": _run(5000.0), "concurrency": 64, **out}}
    for bot in (results["throughput"]["bot"],):
        bot.update({"end_to_end_rate_per_s": 600.0, "latency": {"n": 0}, "statuses": {}})
    row = _row(results, "1 bot / floor")
    assert row[1] == "70.0% (median of 3 rounds: 70.0% / 100.0% / 50.0%)"
    assert row[3] == "PASS"


def test_one_round_is_the_bracketed_floor_as_before() -> None:
    out = phases.rounds([_run(650.0)], [_run(900.0), _run(1100.0)])
    assert out["floor"]["rate_per_s"] == 1000.0 and len(out["rounds"]) == 1
    results = {"meta": {"worker": "separate"},
               "throughput": {"bare": _run(5000.0), "concurrency": 64, **out}}
    results["throughput"]["bot"].update({"end_to_end_rate_per_s": 600.0,
                                         "latency": {"n": 0}, "statuses": {}})
    row = _row(results, "1 bot / floor")
    assert row[1] == "65.0%" and row[3] == "FAIL"
