"""The word tables behind `bot.compliance`: keywords, per-se opt-out words, filler, negation.

Kept apart from the rules so staff (and reviewers) read the vocabulary in one place. Every
entry is in the normalised form `compliance.normalise` produces: upper case, no accents, no
apostrophes ("DON'T" is "DONT"), punctuation dropped.
"""

from __future__ import annotations

import re

#: Exact texts that opt out (the carrier list, the FCC per-se words, and Spanish).
STOP_WORDS = frozenset(
    {
        "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
        "OPTOUT", "OPT OUT", "OPT-OUT",
        # Spanish
        "PARAR", "PAREN", "PARE", "ALTO", "CANCELAR", "NO MAS", "DETENER", "BASTA", "BAJA",
        # "para" is also "for": an opt-out only as the whole text (or with "por favor")
        "PARA", "PARA POR FAVOR", "POR FAVOR PARA", "PARA YA",
    }
)  # fmt: skip
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})
START_WORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE", "EMPEZAR", "REANUDAR"})
YES_WORDS = frozenset({"YES", "Y", "SI"})

#: 47 CFR 64.1200(a)(10): words that revoke consent by themselves ("per se"), English and
#: Spanish, as tokens (`JOINED` pairs count as one token). Inside a short text built around
#: one of them, they opt out whatever the politeness around them.
PER_SE = frozenset(
    {
        "STOP", "STOPALL", "QUIT", "END", "REVOKE", "OPTOUT", "CANCEL", "UNSUBSCRIBE",
        "PARAR", "PAREN", "PARE", "PARAYA", "DETENER", "DETENGAN", "CANCELAR", "CANCELEN",
        "BASTA", "DESUSCRIBIR", "DESUSCRIBIRME", "DESUSCRIBANME",
    }
)  # fmt: skip

#: Words that carry no meaning of their own around a per-se word ("I want to stop please",
#: "stop sending these texts now"). A text made of per-se words and these only is an
#: opt-out; any other word makes it a sentence to be read as a whole.
_FILLER_WORDS = """
    I ID IM ME MY WE US YOU U YOUR IT THIS THAT THESE THOSE THEM THE A AN ALL
    PLEASE PLS PLZ KINDLY JUST NOW RIGHT AWAY ALREADY ASAP IMMEDIATELY AT ONCE OK OKAY
    THANKS THANK THX TY SO AND OR ALSO REALLY SERIOUSLY NO YES HEY HI HELLO GUYS OUT
    WANT WANNA WOULD LIKE LOVE TO CAN COULD WILL SHOULD MUST NEED NEEDS HAS HAVE GOTTA
    LET LETS GO GET
    SENDING GETTING RECEIVING TEXTING MESSAGING
    TEXT TEXTS MESSAGE MESSAGES MSG MSGS SMS ALERTS ALERT NOTIFICATIONS SUBSCRIPTION LIST
    FROM OF HERE
    YO QUIERO QUISIERA POR FAVOR FAVOR YA AHORA MISMO GRACIAS TODO TODOS LOS LAS LA EL
    ESTO ESTOS ESTAS ME MI DE EN Y O MENSAJES MENSAJE TEXTOS SMS ALERTAS
"""
FILLER = frozenset(_FILLER_WORDS.split())

#: Word pairs read as one token before the per-se and negation checks.
JOINED = {"OPT OUT": "OPTOUT", "STOP ALL": "STOPALL", "DO NOT": "DONOT", "PARA YA": "PARAYA"}

#: Words that turn what follows into its opposite ("don't stop", "never stop", "no paren").
NEGATIONS = frozenset({"DONT", "DONOT", "NEVER", "NOT", "CANT", "CANNOT", "WONT", "NO",
                       "NUNCA", "JAMAS", "NI"})

#: Revocations in plain words, matched at any length. A stop-like verb counts only with a
#: word about messages or a list, and not after a negation ("don't stop texting me, I love
#: it" keeps the voter), so "never stop fighting" is not an opt-out.
_NOT_NEGATED = r"(?<!DONT )(?<!NOT )(?<!NEVER )(?<!CANT )(?<!WONT )"
REVOCATION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        _NOT_NEGATED + r"\b(STOP|QUIT|CEASE|NO MORE|END)\b.*\b(TEXT|TEXTS|TEXTING|MESSAGE|"
        r"MESSAGES|MESSAGING|SMS|CONTACT|CONTACTING|SPAM|SPAMMING|ALERTS)\b",
        r"\b(DONT|DO NOT|NEVER)\b (EVER )?(TEXT|MESSAGE|SMS|CONTACT|SPAM) (ME|US|THIS NUMBER)\b",
        r"\b(REMOVE|TAKE|DELETE|UNSUBSCRIBE|OPT)\b.*\b(ME|MY NUMBER|THIS NUMBER|MYSELF)\b.*"
        r"\b(OFF|FROM|OUT)\b",
        r"\b(REMOVE|DELETE|UNSUBSCRIBE|UNENROLL) (ME|MY NUMBER|THIS NUMBER)\b",
        r"\bLEAVE ME ALONE\b",
        r"\b(WRONG NUMBER|NOT INTERESTED|NO LONGER INTERESTED)\b",
        # Spanish: "no mas mensajes", "dejen de enviarme", "no me manden", "ya no quiero
        # mensajes", "quiero darme de baja", "borrenme", "quitenme"
        r"\bNO MAS (MENSAJES|TEXTOS|SMS|ALERTAS)\b",
        r"\bDEJE?N? DE (ENVIAR|MANDAR|ESCRIBIR|TEXTEAR)",
        r"\bNO ME (ENVIEN|MANDEN|ESCRIBAN|TEXTEEN|CONTACTEN|MOLESTEN)\b",
        r"\bNO QUIERO\b.*\b(MENSAJES|TEXTOS|SMS|ALERTAS|RECIBIR)\b",
        r"\b(DARME|DENME|DAR) DE BAJA\b",
        r"\b(BORRENME|QUITENME|SACAME|SAQUENME|ELIMINENME)\b",
        r"\bNUMERO EQUIVOCADO\b",
    )
)

#: Texts that show a new phone writes in Spanish (greetings and keywords), so the first
#: answer is in Spanish too.
SPANISH_HINTS = frozenset(
    {"AYUDA", "HOLA", "BUENAS", "BUENOS DIAS", "BUENAS TARDES", "BUENAS NOCHES", "INFORMACION",
     "QUE ES ESTO", "QUIEN ES", "GRACIAS", "SI", "PARAR", "NO MAS", "EMPEZAR", "REANUDAR"}
)

#: Words that make a free-text reply read as a street address ("End St", "Calle Alto").
STREET_WORDS = frozenset(
    """
    ST STREET AVE AV AVENUE RD ROAD BLVD BOULEVARD LN LANE DR DRIVE WAY CT COURT PL PLACE
    PKWY PARKWAY HWY HIGHWAY TER TERRACE CIR CIRCLE SQ SQUARE APT UNIT NW NE SW SE
    CALLE AVENIDA CAMINO CARRETERA
    """.split()  # noqa: SIM905 - a word list reads best as words
)
