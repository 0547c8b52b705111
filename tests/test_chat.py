"""`python -m bot chat`: a terminal phone through the real server, as staff use it."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from bot.__main__ import main
from tests.conftest import ROOT


@pytest.mark.heavy
def test_chat_walks_a_flow_from_piped_lines() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "TWILIO_"))}
    env |= {"FLOW_PATH": str(ROOT / "tests" / "flows" / "join.yaml"), "PROGRAM_NAME": "Acme"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--phone", "+15555550100"],
        input="JOIN\nmaybe\nyes\nSTOP\nhello\n", capture_output=True, text=True, timeout=90,
        cwd=ROOT, env=env, check=True)
    out = done.stdout
    assert "You are +15555550100. Type a text (JOIN, UNETE to start, HELP, STOP)" in out
    assert "bot> Acme: Reply YES to get advocacy alerts." in out
    assert "bot> Sorry, I did not understand. Reply YES or NO." in out
    assert "bot> Thanks, you're in!" in out
    assert "bot> Acme: You are unsubscribed" in out
    after_stop = out.split("you> STOP", 1)[1]
    assert after_stop.count("bot>") == 1  # the confirmation, then silence for "hello"


def test_chat_names_the_keywords_of_the_flows_it_runs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Not JOIN when FLOW_PATH holds only a petition: SIGN or FIRMA starts it. (In this
    process, through `main`: the test above already proves the command line end to end,
    and a second interpreter cost ~1.3 s of CPU.)"""
    for name in list(os.environ):
        if name.startswith(("REDIS_", "TWILIO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLOW_PATH", str(ROOT / "flows" / "petition.yaml"))
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # the voter types nothing: Ctrl-D
    monkeypatch.setattr("bot.__main__.setup_logging", lambda *args, **kwargs: None)
    assert main(["chat", "--phone", "+15555550100"]) == 0
    assert "Type a text (SIGN, FIRMA to start, HELP, STOP)" in capsys.readouterr().out
