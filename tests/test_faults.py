"""The fault suite's own arithmetic, and one real scenario end to end (integration)."""

from __future__ import annotations

import io
import os

import pytest

from bot.faults.run import main, ports
from bot.faults.texts import phones, tally
from bot.phone import region_of, to_e164
from tests.conftest import OWN_SERVERS


def test_scenario_phones_are_valid_distinct_us_numbers() -> None:
    numbers = phones(201, 300)
    assert len(set(numbers)) == 300
    assert all(to_e164(n) == n and region_of(n) == "US" for n in numbers)


def test_tally_counts_lost_and_duplicates_among_the_answered() -> None:
    answered = ["+1", "+2", "+3"]
    assert tally(answered, ["+1", "+1", "+1", "+3", "+9"]) == (1, 2)


def test_ports_stay_in_the_given_range() -> None:
    p = ports(18610)
    assert {p.redis, p.web, *p.sandbox} <= set(range(18610, 18626))


@pytest.mark.integration
@OWN_SERVERS
def test_redis_replaced_scenario_runs_and_passes() -> None:
    out = io.StringIO()
    status = main(True, ["redis-replaced"], int(os.environ.get("FAULTS_PORT_BASE", "18670")),
                  out)
    assert status == 0, out.getvalue()
    assert "| Redis replaced by an empty one | first reply" in out.getvalue()
