"""`Turn.render` fills a text as `render(text, turn.values())` does, whether the text names
built-ins only (filled once, remembered) or stored values too."""

from __future__ import annotations

import pytest

from bot.clock import SequentialIds
from bot.engine_turn import Turn, names_builtins_only
from bot.models import Conversation
from bot.rules import Rules
from bot.runtime import load_flows
from bot.texts import render
from tests.conftest import make_settings

TEXTS = [
    "no placeholder", "{program}: Reply YES", "{program!r} {help_contact:>12}|",
    "Text {join_en} ({join_es} en espanol) {{literal}}", "{program} {zip}", "{zip}",
    "{program.upper}", "{program:{zip}}", "{help_contact[0]}", "{}", "{nobody}",
]


@pytest.mark.parametrize("help_contact", [None, "help@example.org"])
@pytest.mark.parametrize("stored", [{}, {"zip": "20001", "program": "stored"}])
def test_render_is_render_with_values(help_contact: str | None, stored: dict[str, str]) -> None:
    flows = load_flows(make_settings())
    for flow in flows.flows.values():
        conv = Conversation(phone="+12025550123", flow=flow.name, vars=dict(stored))
        turn = Turn(conv, flow, 0.0, SequentialIds(), Rules(program="Acme",
                                                            help_contact=help_contact))
        for text in TEXTS:
            expected: str | type[Exception]
            try:
                expected = render(text, turn.values())
            except (ValueError, IndexError, KeyError) as error:
                expected = type(error)
            if isinstance(expected, str):
                assert turn.render(text) == expected, text
            else:
                with pytest.raises(expected):
                    turn.render(text)


def test_builtins_only() -> None:
    assert names_builtins_only("{program}: {join_en} {{x}}")
    assert names_builtins_only("{program!r:>9}")
    for text in ("{zip}", "{program.upper}", "{program:{zip}}", "{help_contact[0]}", "{}",
                 "{program", "}"):
        assert not names_builtins_only(text), text
