"""STOP/HELP/START classification: exact keywords, plain-language revocations, Spanish."""

from __future__ import annotations

import pytest

from bot.compliance import DEFAULT_LISTS, Keyword, classify


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "  Stop! ", "STOPALL", "stop all", "UNSUBSCRIBE", "cancel", "END",
     "quit.", "REVOKE", "optout", "opt out", "Opt-Out", "please stop texting me",
     "Stop sending me messages", "remove me from this list", "take me off your list",
     "unsubscribe me", "don't text me", "never text me again", "PARAR", "alto", "Cancelar",
     "no más", "No mas mensajes", "Por favor dejen de enviarme mensajes", "no me manden nada"],
)
def test_stop(text: str) -> None:
    assert classify(text) is Keyword.STOP


@pytest.mark.parametrize("text", ["HELP", "help?", "Info", "AYUDA"])
def test_help(text: str) -> None:
    assert classify(text) is Keyword.HELP


@pytest.mark.parametrize("text", ["START", "unstop", "Start!"])
def test_start(text: str) -> None:
    assert classify(text) is Keyword.START


@pytest.mark.parametrize("text", ["yes", "YES!", "Sí", "y"])
def test_yes(text: str) -> None:
    assert classify(text) is Keyword.YES


@pytest.mark.parametrize(
    "text",
    ["JOIN", "don't stop fighting", "I can't stop", "I don't want to call", "stopwatch",
     "123 Main St", "", "  ", "endless", "help me find my senator"],
)
def test_ordinary_replies(text: str) -> None:
    assert classify(text) is None


def test_flow_can_extend_the_lists() -> None:
    lists = DEFAULT_LISTS.extended(stop=["BASTA YA", "leave"])
    assert classify("leave", lists) is Keyword.STOP
    assert classify("basta ya!", lists) is Keyword.STOP
    assert classify("leave") is None
