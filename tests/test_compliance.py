"""STOP/HELP/START classification, one table: English and Spanish, opt-outs and not.

Each row is (text, whether the flow waits for an answer, expected class). "answer" rows
are texts a voter sends while the bot waits for a street, a campaign name or a code: a
per-se word inside such an answer ("End St", "Stop the Cuts") must not opt the voter out,
while a text built only around the word still does ("stop please").
"""

from __future__ import annotations

import pytest

from bot.compliance import (
    DEFAULT_LISTS,
    Keyword,
    classify,
    language_hint,
    looks_like_street,
    quotes,
)

STOP, HELP, START, YES = Keyword.STOP, Keyword.HELP, Keyword.START, Keyword.YES
IDLE, ANSWER = False, True
LONG_PREFIX = ("Hi, I got your message about the clean water campaign and I read the whole "
               "thing twice, and I appreciate what you all do for the neighborhood, but ")

TABLE: list[tuple[str, bool, Keyword | None]] = [
    # --- exact keywords (any case, punctuation and spaces ignored) -----------------------
    ("STOP", IDLE, STOP), ("stop", ANSWER, STOP), ("  Stop! ", IDLE, STOP),
    ("STOP!!!", ANSWER, STOP), ("STOPALL", IDLE, STOP), ("stop all", IDLE, STOP),
    ("UNSUBSCRIBE", IDLE, STOP), ("cancel", ANSWER, STOP), ("END", ANSWER, STOP),
    ("quit.", IDLE, STOP), ("REVOKE", IDLE, STOP), ("optout", IDLE, STOP),
    ("opt out", IDLE, STOP), ("Opt-Out", ANSWER, STOP),
    # --- short texts built around a per-se word, whatever the politeness ----------------
    ("stop please", ANSWER, STOP), ("Stop it", ANSWER, STOP), ("I want to stop", ANSWER, STOP),
    ("cancel please", ANSWER, STOP), ("I'd like to opt out", ANSWER, STOP),
    ("opt me out", ANSWER, STOP), ("take me off this list", ANSWER, STOP),
    ("Please STOP now.", ANSWER, STOP), ("stop. thanks", IDLE, STOP),
    ("ok stop", ANSWER, STOP), ("No, stop!", ANSWER, STOP),
    ("just end it already", ANSWER, STOP), ("end this now guys", ANSWER, STOP),
    ("Quit sending me these", ANSWER, STOP), ("unsubscribe me please", ANSWER, STOP),
    ("I want to unsubscribe from this list", ANSWER, STOP),
    ("cancel my subscription", ANSWER, STOP),
    ("this needs to stop", ANSWER, STOP), ("STOP STOP STOP", IDLE, STOP),
    ("Stop texting me", ANSWER, STOP), ("please stop texting me", IDLE, STOP),
    ("Stop sending me messages", ANSWER, STOP), ("remove me from this list", ANSWER, STOP),
    ("take me off your list", IDLE, STOP), ("don't text me", ANSWER, STOP),
    ("never text me again", IDLE, STOP), ("leave me alone", ANSWER, STOP),
    ("wrong number", ANSWER, STOP), ("I'm not interested", ANSWER, STOP),
    ("no more texts please", IDLE, STOP),
    # --- ambiguous sentences opening with a per-se word: lean to opt-out when idle ------
    ("Stop the Cuts", IDLE, STOP), ("end the war on voters", IDLE, STOP),
    ("Stop bothering people", IDLE, STOP),
    # --- revocations at any length (over 160 characters) ---------------------------------
    (LONG_PREFIX + "please stop texting me.", IDLE, STOP),
    (LONG_PREFIX + "take me off this list.", ANSWER, STOP),
    # --- Spanish opt-outs ---------------------------------------------------------------
    ("PARAR", IDLE, STOP), ("alto", IDLE, STOP), ("Cancelar", ANSWER, STOP),
    ("no más", ANSWER, STOP), ("No mas mensajes", IDLE, STOP),
    ("ya no quiero mensajes", ANSWER, STOP), ("por favor paren", ANSWER, STOP),
    ("no me manden más", ANSWER, STOP), ("Por favor dejen de enviarme mensajes", IDLE, STOP),
    ("no me manden nada", IDLE, STOP), ("quiero darme de baja", ANSWER, STOP),
    ("Bórrenme de la lista", ANSWER, STOP), ("basta ya", ANSWER, STOP),
    ("paren ya por favor", ANSWER, STOP), ("no quiero recibir mas textos", IDLE, STOP),
    ("numero equivocado", IDLE, STOP), ("Cancelen por favor", ANSWER, STOP),
    ("Para", ANSWER, STOP), ("para por favor", ANSWER, STOP), ("Por favor, para.", IDLE, STOP),
    ("para mi casa en 20001", ANSWER, None), ("para que es esto?", IDLE, None),
    # --- negations keep the voter --------------------------------------------------------
    ("don't stop, I love these", IDLE, None), ("never stop fighting for clean water!", IDLE, None),
    ("I can't stop", IDLE, None), ("don't stop texting me, I love it", IDLE, None),
    ("Please never stop!", IDLE, None), ("no paren de luchar", IDLE, None),
    ("nunca paren", IDLE, None),
    # --- a per-se word inside an answer the flow waits for -------------------------------
    ("End St", ANSWER, None), ("123 End St 64108", ANSWER, None), ("Stop the Cuts", ANSWER, None),
    ("1 Quit Ln, Kansas City 64108", IDLE, None), ("Cancel Rd 20001", ANSWER, None),
    ("West End Ave 10001", ANSWER, None), ("when does the campaign end?", IDLE, None),
    ("end of the line", ANSWER, None),
    # --- ordinary replies -----------------------------------------------------------------
    ("JOIN", IDLE, None), ("I don't want to call", IDLE, None), ("stopwatch", IDLE, None),
    ("123 Main St", ANSWER, None), ("", IDLE, None), ("  ", IDLE, None), ("endless", IDLE, None),
    ("help me find my senator", IDLE, None), ("help me", ANSWER, None), ("?", ANSWER, None),
    ("339 373", ANSWER, None), ("Calle Alto 12", ANSWER, None), ("para mi familia", IDLE, None),
    ("sigan asi, me encanta", IDLE, None), ("UNETE", IDLE, None), ("hola", IDLE, None),
    # --- HELP, START, YES ---------------------------------------------------------------
    ("HELP", IDLE, HELP), ("help?", ANSWER, HELP), ("Info", IDLE, HELP), ("AYUDA", IDLE, HELP),
    ("START", IDLE, START), ("unstop", IDLE, START), ("Start!", IDLE, START),
    ("yes", IDLE, YES), ("YES!", IDLE, YES), ("Sí", IDLE, YES), ("y", IDLE, YES),
]


def _id(row: tuple[str, bool, Keyword | None]) -> str:
    text, answering, expected = row
    return f"{text[-40:]!r}-{'answer' if answering else 'idle'}-{expected}"


@pytest.mark.parametrize(("text", "answering", "expected"), TABLE, ids=[_id(r) for r in TABLE])
def test_classify(text: str, answering: bool, expected: Keyword | None) -> None:
    assert classify(text, answering=answering) is expected


def test_the_table_is_big_and_covers_both_languages_and_classes() -> None:
    assert len(TABLE) >= 80
    assert {expected for _, _, expected in TABLE} == {STOP, HELP, START, YES, None}
    assert sum(1 for _, _, e in TABLE if e is STOP) >= 40
    assert sum(1 for _, _, e in TABLE if e is None) >= 30


def test_every_opt_out_in_the_table_is_an_opt_out_while_answering_too() -> None:
    """Only the ambiguous "leading per-se word" rows depend on the flow waiting."""
    flips = [t for t, answering, e in TABLE if e is STOP and not answering
             and classify(t, answering=True) is not STOP]
    assert flips == ["Stop the Cuts", "end the war on voters", "Stop bothering people"]


@pytest.mark.parametrize(("text", "is_answer", "expected"), [
    ("Stop the Cuts", True, None), ("Stop the Cuts", False, STOP),
    ("Stop this nonsense", False, STOP), ("stop please", True, STOP),
])
def test_the_answer_check_is_asked_only_for_ambiguous_sentences(
        text: str, is_answer: bool, expected: Keyword | None) -> None:
    asked: list[str] = []

    def check(body: str) -> bool:
        asked.append(body)
        return is_answer

    assert classify(text, answering=check) is expected
    assert asked == ([] if text == "stop please" else [text])


def test_a_remembered_reading_still_asks_the_conversation() -> None:
    """`classify` remembers what a short text is, per lists; whether an ambiguous one is the
    awaited reply is asked every time, and a long text is read afresh (not kept)."""
    lists = DEFAULT_LISTS.extended()
    for _ in range(2):
        assert classify("Stop the Cuts", lists, answering=True) is None
        assert classify("Stop the Cuts", lists, answering=False) is STOP
        assert classify("JOIN", lists) is None and classify("stop", lists) is STOP
    assert classify(LONG_PREFIX + "please stop texting me.", lists) is STOP
    assert set(lists._seen) == {"Stop the Cuts", "JOIN", "stop"}


@pytest.mark.parametrize(("text", "street"), [
    ("End St", True), ("12 Stop Rd", True), ("Calle Alto", True), ("Stop this nonsense", False),
    ("end it", False)])
def test_looks_like_street(text: str, street: bool) -> None:
    assert looks_like_street(text) is street


def test_quotes_what_the_bot_offered() -> None:
    menu = "1) Clean Water Now\n2) Stop the Cuts"
    assert quotes("stop the cuts!", [menu, 3]) and quotes("Stop the Cuts", ["Stop the Cuts"])
    assert not quotes("Stop the", [menu]) and not quotes("Stop this nonsense", [menu])


def test_flow_can_extend_the_lists() -> None:
    lists = DEFAULT_LISTS.extended(stop=["BASTA YA", "leave"])
    assert classify("leave", lists) is Keyword.STOP
    assert classify("basta ya!", lists) is Keyword.STOP
    assert classify("leave") is None


@pytest.mark.parametrize(("text", "lang"), [("AYUDA", "es"), ("Hola!", "es"), ("hola", "es"),
                                            ("Buenos días", "es"), ("HELP", None), ("hi", None)])
def test_language_hint(text: str, lang: str | None) -> None:
    assert language_hint(text) == lang
