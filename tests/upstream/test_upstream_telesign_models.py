"""TeleSign `status.code` / `errors[].code` -> what they mean."""

from __future__ import annotations

import pytest

from bot.upstream.telesign_models import StatusMeaning, classify


@pytest.mark.parametrize(
    ("status", "errors", "outcome"),
    [
        (200, [], StatusMeaning.DELIVERED),
        (290, [], StatusMeaning.IN_PROGRESS),
        (292, [], StatusMeaning.IN_PROGRESS),
        (203, [], StatusMeaning.IN_PROGRESS),
        (503, [], StatusMeaning.RETRYABLE),  # carrier rejected, temporary
        (505, [], StatusMeaning.RETRYABLE),  # gateway temporary
        (500, [-90001], StatusMeaning.RETRYABLE),
        (500, [-40007], StatusMeaning.RETRYABLE),
        (500, [-10001], StatusMeaning.FAILED),
        (504, [], StatusMeaning.FAILED),  # carrier rejected, permanent
        (211, [], StatusMeaning.FAILED),
        (230, [], StatusMeaning.FAILED),
        (251, [], StatusMeaning.UNKNOWN),
    ],
)
def test_classify(status: int, errors: list[int], outcome: StatusMeaning) -> None:
    assert classify(status, errors) is outcome
