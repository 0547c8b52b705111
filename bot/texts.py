"""Default wording of the compliance answers, per language; a flow's `compliance:` overrides.

Carrier rules: HELP names the program, how to get help and how to stop; STOP confirms once;
START confirms the opt-in with frequency ("Msg frequency varies": no cap is enforced) and
the "Msg & data rates may apply" notice. The idle answer names the keyword of every language.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.flow.schema import Text

DEFAULTS: dict[str, dict[str, str]] = {
    "help": {
        "en": "{program}: advocacy alerts. Help: {help_contact}. Msg frequency varies. "
              "Msg & data rates may apply. Reply STOP to cancel.",
        "es": "{program}: alertas de accion. Ayuda: {help_contact}. La frecuencia de "
              "mensajes varia. Pueden aplicarse tarifas de mensajes y datos. Responda PARAR "
              "para cancelar.",
    },
    # HELP_CONTACT unset: no invented contact (the server and `flows check` warn about it).
    "help_no_contact": {
        "en": "{program}: advocacy alerts. Msg frequency varies. Msg & data rates may apply. "
              "Reply STOP to cancel.",
        "es": "{program}: alertas de accion. La frecuencia de mensajes varia. Pueden "
              "aplicarse tarifas de mensajes y datos. Responda PARAR para cancelar.",
    },
    "stop": {
        "en": "{program}: You are unsubscribed and will get no more messages. "
              "Reply START to resubscribe.",
        "es": "{program}: Se ha dado de baja y no recibira mas mensajes. "
              "Responda START para volver a suscribirse.",
    },
    "start": {
        "en": "{program}: You are subscribed again. Msg frequency varies. Msg & data rates may "
              "apply. Reply HELP for help, STOP to cancel.",
        "es": "{program}: Se ha suscrito de nuevo. La frecuencia de mensajes varia. Pueden "
              "aplicarse tarifas de mensajes y datos. Responda AYUDA para ayuda, PARAR para "
              "cancelar.",
    },
    "welcome": {
        "en": "{program}: Welcome! Text {join_en} to sign up for advocacy alerts ({join_es} en "
              "espanol). Reply HELP for help, STOP to cancel.",
        "es": "{program}: Bienvenido! Envie {join_es} para recibir alertas de accion ({join_en} "
              "in English). Responda AYUDA para ayuda, PARAR para cancelar.",
    },
    "idle": {
        "en": "{program}: Text {join_en} to get started ({join_es} en espanol). Reply HELP for "
              "help, STOP to cancel.",
        "es": "{program}: Envie {join_es} para empezar ({join_en} in English). Responda AYUDA "
              "para ayuda, PARAR para cancelar.",
    },
    "busy": {
        "en": "One moment please, we are working on it.",
        "es": "Un momento por favor, estamos en ello.",
    },
    "sorry": {
        "en": "Sorry, I did not understand.",
        "es": "Perdon, no entendi.",
    },
    "not_served": {
        "en": "{program}: Sorry, this service is only for phones in {countries}. "
              "We will not text you again.",
        "es": "{program}: Perdon, este servicio es solo para telefonos de {countries}. "
              "No le enviaremos mas mensajes.",
    },
    "halted": {
        "en": "{program}: Sorry, something went wrong on our side, so we stopped here. "
              "Please try again later.",
        "es": "{program}: Perdon, algo fallo de nuestro lado y nos detuvimos aqui. Intente de "
              "nuevo mas tarde.",
    },
    "flow_restarted": {
        "en": "Sorry, this conversation was changed on our side, so we are starting it again.",
        "es": "Perdon, esta conversacion cambio de nuestro lado, asi que la empezamos de nuevo.",
    },
    "flow_gone": {
        "en": "{program}: Sorry, this conversation is no longer available. Reply HELP for help.",
        "es": "{program}: Perdon, esta conversacion ya no esta disponible. Responda AYUDA para "
              "ayuda.",
    },
    "goodbye": {
        "en": "{program}: Let's stop here for now. Text {join_en} any time to start again.",
        "es": "{program}: Lo dejamos aqui por ahora. Envie {join_es} para empezar de nuevo.",
    },
}


class Vars(dict[str, object]):
    """Placeholder values; a name nobody set renders as nothing instead of failing."""

    def __missing__(self, key: str) -> str:
        return ""


def pick(text: Text | None, lang: str, fallback: str = "en") -> str | None:
    """The variant of `text` for `lang` (or the fallback language, or any)."""
    if text is None or isinstance(text, str):
        return text
    return text.get(lang) or text.get(fallback) or next(iter(text.values()), None)


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill `{placeholders}`; unknown ones become empty."""
    if "{" not in template:
        return template
    return template.format_map(Vars(values))


def default_text(kind: str, lang: str) -> str:
    """The built-in wording of a compliance answer in `lang` (English when not translated)."""
    table = DEFAULTS[kind]
    return table.get(lang, table["en"])
