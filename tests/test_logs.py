"""No log line carries a whole phone number, a code or a secret."""

from __future__ import annotations

import pytest

from bot.logs import redact


def test_phone_keys_are_masked_and_secrets_dropped() -> None:
    out = redact(None, "info", {"event": "x", "phone": "+15555550100", "code": "123456",
                                "auth_token": "abc", "to": "+12025550123"})
    assert out["phone"] == "+1******0100" and out["to"] == "+1******0123"
    assert out["code"] == "***" and out["auth_token"] == "***"


def test_phone_numbers_inside_any_text_are_masked() -> None:
    out = redact(None, "info", {"event": "send failed for +15555550100 (202) 555-0123",
                                "error": "To +447911123456 is invalid"})
    assert "5555550100" not in out["event"] and "555-0123" not in out["event"]
    assert out["event"].startswith("send failed for +1*")
    assert "7911123456" not in out["error"]


def test_timestamps_added_after_masking_stay_readable() -> None:
    import io

    import structlog

    from bot.logs import setup_logging

    buffer = io.StringIO()
    setup_logging("INFO", json_lines=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer),
                        cache_logger_on_first_use=False)
    structlog.get_logger("t").info("hello", phone="+15555550100")
    line = buffer.getvalue()
    assert '"phone": "+1******0100"' in line
    assert '"timestamp": "20' in line


def test_twilio_api_version_in_a_path_is_not_a_phone() -> None:
    path = "/2010-04-01/Accounts/{account_sid}/Messages.json"
    out = redact(None, "info", {"event": "upstream.call", "path": path,
                                "error": "POST /2010-04-01/Accounts/AC1/Messages.json failed"})
    assert out["path"] == path
    assert "/2010-04-01/" in out["error"]


def test_logs_and_upstream_texts_mask_alike() -> None:
    from bot.upstream.redact import redact_text

    for text in ["To +447911123456 is invalid", "call (202) 555-0123 now", "id 5550100",
                 "/2010-04-01/Accounts", "ZIP 64108, code 21211"]:
        assert redact(None, "info", {"event": text})["event"] == redact_text(text)


def test_transitions_internals_stay_out_of_info_logs() -> None:
    """The state machine's per-step INFO lines would cost more than the step (bench phase 6)
    and tell an operator nothing; at DEBUG they are there for whoever debugs a flow."""
    import logging

    from bot.logs import setup_logging

    machine_log = logging.getLogger("transitions.core")
    setup_logging("INFO")
    assert not machine_log.isEnabledFor(logging.INFO)
    assert machine_log.isEnabledFor(logging.WARNING)
    assert logging.getLogger("aiohttp.access").isEnabledFor(logging.INFO)
    setup_logging("DEBUG")
    assert machine_log.isEnabledFor(logging.DEBUG)


def test_hot_paths_skip_building_info_lines_only_when_info_is_off(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Under load (LOG_LEVEL=WARNING) the step and upstream-call lines are not even built;
    at INFO they are written, phone masked, as before."""
    import structlog

    from bot.logs import info_enabled, setup_logging

    setup_logging("WARNING")  # (a logger caches its level on first use: one per setting)
    assert not info_enabled(structlog.get_logger("test.hot.warning"))
    setup_logging("INFO")
    log = structlog.get_logger("test.hot.info")
    assert info_enabled(log)
    log.info("step", phone="+12025550143")
    assert "+1******0143" in capsys.readouterr().err
