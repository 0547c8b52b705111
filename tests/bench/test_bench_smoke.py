"""`python -m bot bench` end to end with tiny numbers (about 12 s): every child process
starts, every phase measures something, the table prints, the JSON is written, and every
child is stopped. The figures of so short a run mean nothing; docs/performance.md has
real ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.bench import main
from tests.conftest import OWN_SERVERS

pytestmark = [
    pytest.mark.integration,
    OWN_SERVERS,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def test_bench_runs_every_phase_with_tiny_numbers(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert main(["--tiny", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    for phase in ("engine", "throughput", "latency", "burst", "effects", "memory"):
        assert phase in results, phase
    assert results["throughput"]["bot"]["accepted_total"] > 0
    assert results["throughput"]["bot"]["worker_settled"]
    assert results["latency"]["errors"] == 0
    assert results["latency"]["replies_unmatched"] == 0
    assert results["burst"]["applied_exactly_once"]
    assert results["effects"]["completed"] == results["meta"]["plan"]["actions"]
    assert results["memory"]["after_keyword"]["bytes_per_conversation"] > 0
    printed = capsys.readouterr().out
    assert "bot / bare, same core" in printed and "engine step" in printed


def test_bench_refuses_an_unknown_phase(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "throughput,nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_the_rally_runs_only_when_named_and_measures_every_part(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rally.json"
    assert main(["--tiny", "--only", "rally", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    rally = results["rally"]
    assert rally["errors"] == 0 and rally["joins_answered"] == rally["phones"]
    assert rally["yes_answered"] == rally["yes_phones"]
    assert rally["codes_received"] + rally["codes_missing"] == rally["yes_answered"]
    assert rally["optin_replied"] + rally["optin_still_queued"] == rally["joins_answered"]
    assert rally["rate_check"]["sends"] >= rally["optin_replied"] + rally["codes_received"]
    assert results["rally_server_env"]["SMS_RATE"] == "20"
    assert "7 code wait" in capsys.readouterr().out
