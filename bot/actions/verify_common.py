"""What `verify_send` and `verify_check` share: the bot's own codes, their hash, their text.

For the `local` and `telesign` providers the bot makes the code itself (6 digits from
`secrets`) and keeps ONLY a hash in the conversation: HMAC-SHA256 keyed by `VERIFY_SECRET`
over `salt|phone|code`, with a fresh random salt per send. The code itself is never stored
or logged. Without `VERIFY_SECRET` a fixed development key is used and a warning is logged
once per process: set the secret in production (whoever holds the key and a stored hash can
try all 10^6 codes offline).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Literal

import structlog
from pydantic import SecretStr

from bot.config import Settings

log = structlog.get_logger("bot.actions.verify")

CODE_DIGITS = 6
SALT_BYTES = 8
#: Used only when `VERIFY_SECRET` is unset (development, tests): never rely on it.
DEV_KEY = b"civictext-dev-verify-key-set-VERIFY_SECRET"
#: The code text per language (`{program}`, `{code}`, `{minutes}`, `{unit}`).
CODE_TEXTS = {
    "en": "{program}: your code is {code}. It expires in {minutes} {unit}.",
    "es": "{program}: su codigo es {code}. Vence en {minutes} {unit}.",
}
MINUTE_WORDS = {"en": ("minute", "minutes"), "es": ("minuto", "minutos")}
#: TeleSign `language` for its predefined template, by flow language (codes unverified:
#: REFERENCE 5.2 documents the field but not its values).
TELESIGN_LANGUAGES = {"en": "en-US", "es": "es-MX"}

_warned: list[bool] = []


@dataclass(frozen=True)
class VerifySettings:
    """The settings `verify_send` and `verify_check` need, and nothing else."""

    provider: Literal["telesign", "wevote", "local"]
    code_ttl: int
    max_tries: int
    resend_cooldown: int
    secret: SecretStr | None
    program_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> VerifySettings:
        return cls(provider=settings.verify_provider, code_ttl=settings.verify_code_ttl,
                   max_tries=settings.verify_max_tries,
                   resend_cooldown=settings.verify_resend_cooldown,
                   secret=settings.verify_secret, program_name=settings.program_name)


def secret_key(settings: VerifySettings) -> bytes:
    """`VERIFY_SECRET`, or the development key (warned about once)."""
    if settings.secret is not None:
        value = settings.secret.get_secret_value()
        if value:
            return value.encode("utf-8")
    if not _warned:
        _warned.append(True)
        log.warning("VERIFY_SECRET is not set: verification codes are hashed with a fixed "
                    "development key")
    return DEV_KEY


def new_code() -> str:
    """A random 6-digit code (leading zeros kept)."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def new_salt() -> str:
    """A random salt, hex."""
    return secrets.token_hex(SALT_BYTES)


def code_hash(settings: VerifySettings, salt: str, phone: str, code: str) -> str:
    """HMAC-SHA256(key, salt|phone|code), hex."""
    message = f"{salt}|{phone}|{code}".encode()
    return hmac.new(secret_key(settings), message, hashlib.sha256).hexdigest()


def hash_matches(settings: VerifySettings, salt: str, phone: str, code: str, expected: str) -> bool:
    """Constant-time comparison of the code's hash with the stored one."""
    return hmac.compare_digest(code_hash(settings, salt, phone, code), expected)


def code_text(settings: VerifySettings, lang: str, code: str) -> str:
    """The text carrying the code, in the voter's language (English otherwise)."""
    minutes = max(1, math.ceil(settings.code_ttl / 60))
    one, many = MINUTE_WORDS.get(lang, MINUTE_WORDS["en"])
    template = CODE_TEXTS.get(lang, CODE_TEXTS["en"])
    return template.format(program=settings.program_name, code=code, minutes=minutes,
                           unit=one if minutes == 1 else many)
