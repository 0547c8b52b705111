"""structlog set-up, with one processor that masks phone numbers and codes everywhere.

Call sites log freely (`log.info("inbound", phone=phone)`); this processor makes sure a
whole phone number, a verification code or a secret never reaches the output. Records of
the standard `logging` module (aiohttp's access log and its request parser errors, which
quote the raw request) go through the same processor, tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from bot.phone import MIN_PHONE_DIGITS, mask, mask_in_text

_MASK_KEYS = frozenset({"phone", "to", "from_", "from", "sender", "recipient", "phone_number"})
_SECRET_KEYS = frozenset({"code", "verify_code", "token", "auth_token", "api_key", "password",
                          "app_key", "secret", "authorization", "body_text"})


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask phones (by key and inside any text) and drop secrets and codes."""
    for key, value in list(event_dict.items()):
        if key in _SECRET_KEYS and value is not None:
            event_dict[key] = "***"
        elif key in _MASK_KEYS and isinstance(value, str):
            event_dict[key] = mask(value)
        elif isinstance(value, str) and len(value) >= MIN_PHONE_DIGITS:
            event_dict[key] = mask_in_text(value)
    return event_dict


_OURS = "_civictext_handler"


def _renderer(json_lines: bool) -> Any:
    return (structlog.processors.JSONRenderer() if json_lines
            else structlog.dev.ConsoleRenderer(colors=False))


def stdlib_handler(stream: TextIO, json_lines: bool = False) -> logging.Handler:
    """A `logging` handler that renders records like ours, masked. The traceback is turned
    into text before `redact` runs, so an exception quoting a phone is masked too."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _renderer(json_lines)],
    ))
    return handler


def info_enabled(logger: Any) -> bool:
    """Whether `logger` writes INFO lines (always true before `setup_logging`, as structlog's
    defaults write everything): a hot path skips building a line nobody will see."""
    enabled = getattr(logger, "is_enabled_for", None)
    return True if enabled is None else bool(enabled(logging.INFO))


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Configure structlog once, in `__main__` (tests keep structlog's defaults + redact),
    and route the standard `logging` records (aiohttp's own) through the same masking."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer = _renderer(json_lines)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)  # set up again: replace ours, leave anyone else's
    handler = stdlib_handler(sys.stderr, json_lines)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(numeric)
    # `transitions` logs every state entry and callback at INFO: lines per text that say
    # nothing to an operator, and at INFO they cost far more than the step itself. They
    # stay available at DEBUG, for someone debugging a flow.
    logging.getLogger("transitions").setLevel(numeric if numeric <= logging.DEBUG
                                               else max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            redact,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
