"""The per-phone record of what the funnel has counted (`bot.reached`): pure."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clock import SequentialIds
from bot.engine import Rules, step
from bot.flow import FlowSet, load_flow_set
from bot.funnel import MILESTONES, funnel_fields
from bot.models import ConsentChange, Conversation, Inbound, Step
from bot.reached import CAMPAIGNS_KEPT, DAY, Record, flow_keys, reach
from tests.conftest import ROOT
from tests.test_flow_loader import ACTIONS

PHONE = "+15555550100"
NOW = 20_000 * DAY + 3600.0


@pytest.fixture(scope="module")
def flows() -> FlowSet:
    return load_flow_set(ROOT / "tests" / "flows" / "join.yaml", {})


def text(body: str, n: int) -> Inbound:
    return Inbound(provider="twilio", message_id=f"SM{n}", phone=PHONE, body=body,
                   received_at=NOW)


def run(flows: FlowSet, conv: Conversation, bodies: list[str], now: float = NOW
        ) -> tuple[Conversation, list[list[str]]]:
    """Step `conv` through `bodies`; the conversation and each step's funnel fields."""
    fields = []
    for n, body in enumerate(bodies):
        result = step(flows, conv, text(body, n), now, SequentialIds(), Rules())
        fields.append(funnel_fields(conv, result))
        conv = result.conversation
    return conv, fields


def test_a_state_entered_again_the_same_day_is_not_counted_again(flows: FlowSet) -> None:
    conv, fields = run(flows, Conversation(phone=PHONE), ["JOIN", "no", "JOIN", "no"])
    assert fields == [["f|join|optin"], ["f|join|declined"], [], []]
    assert len(conv.reached) < 16, conv.reached  # a few bytes per phone


def test_the_next_day_counts_in_the_day_only(flows: FlowSet) -> None:
    conv, _ = run(flows, Conversation(phone=PHONE), ["JOIN", "no"])
    _, fields = run(flows, conv, ["JOIN", "YES"], now=NOW + DAY)
    assert fields == [[".f|join|optin"],
                      ["f|join|confirmed", "f|join|@opted_in"]]  # confirmed: new ever


def test_opt_outs_are_counted_once_per_phone_per_day(flows: FlowSet) -> None:
    conv, fields = run(flows, Conversation(phone=PHONE),
                       ["JOIN", "YES", "STOP", "START", "STOP"])
    assert fields[2] == ["f|?|@opted_out", "c|?|@opted_out"]
    assert fields[3:] == [[], []]  # the same phone, the same day: already counted
    _, later = run(flows, conv, ["START", "STOP"], now=NOW + 2 * DAY)
    assert later == [[".f|?|@opted_in", ".c|?|@opted_in"],
                     [".f|?|@opted_out", ".c|?|@opted_out"]]


def test_no_record_reads_as_nothing_reached_and_a_bad_one_too() -> None:
    assert Record.decode("", 5).entries == {}
    bad = Record.decode("not a record", 5)
    assert bad.entries == {} and bad.consent.ever == 0
    record = Record.decode("4.1.abc:5", 5)  # yesterday's: today's masks are empty
    assert record.consent.ever == 1 and record.consent.today == 0
    assert record.entries["abc"].ever == 5 and record.entries["abc"].today == 0
    same = Record.decode("5.3/1.abc:7/2", 5)
    assert (same.consent.ever, same.consent.today) == (3, 1)
    assert same.encode() == "5.3/1.abc:7/2"


def test_a_reload_that_changes_the_states_gives_the_flow_a_new_record(
        flows: FlowSet, tmp_path: Path) -> None:
    conv, _ = run(flows, Conversation(phone=PHONE), ["JOIN", "no"])
    changed = (ROOT / "tests" / "flows" / "join.yaml").read_text().replace(
        "declined", "said_no")  # a state renamed
    (tmp_path / "join.yaml").write_text(changed)
    reloaded = load_flow_set(tmp_path / "join.yaml", {})
    assert flow_keys(reloaded) != flow_keys(flows)
    conv, fields = run(reloaded, conv, ["JOIN"])
    assert fields == [["f|join|optin"]]  # counted once more: the old bits meant other states
    assert list(Record.decode(conv.reached, 20_000).entries) == [
        flow_keys(reloaded)["join"]]


def test_campaigns_are_kept_to_the_most_recent(flows: FlowSet) -> None:
    conv = Conversation(phone=PHONE, flow="join", state="optin", updated_at=NOW)
    before = conv
    for campaign in range(CAMPAIGNS_KEPT + 2):
        conv = conv.model_copy(update={"vars": {"campaign_id": str(campaign)}})
        result = reach(flows, before, Step(conversation=conv, flow="join",
                                           entered=["declined"]))
        assert result.firsts is not None
        new = {"c:declined", "f:declined"} if campaign == 0 else {"c:declined"}
        assert result.firsts.today == result.firsts.ever == new
        assert funnel_fields(before, result)[-1] == f"c|{campaign}|declined"
        conv = before = result.conversation
    entries = Record.decode(conv.reached, 20_000).entries
    key = flow_keys(flows)["join"]
    assert set(entries) == {key} | {f"{key}#{n}" for n in range(2, CAMPAIGNS_KEPT + 2)}


def test_every_milestone_state_is_a_state_of_the_shipped_flow() -> None:
    advocacy = load_flow_set(ROOT / "flows", ACTIONS).flows["advocacy"]
    assert set(MILESTONES["advocacy"]) <= set(advocacy.spec.states)


def test_a_step_made_outside_the_engine_counts_every_mark() -> None:
    conv = Conversation(phone=PHONE, flow="join")
    result = Step(conversation=conv, flow="join", entered=["optin", "optin"])
    assert funnel_fields(conv, result) == ["f|join|optin"]


@pytest.mark.heavy
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2),
                          st.lists(st.sampled_from(["optin", "confirmed", "declined"]),
                                   max_size=3),
                          st.sampled_from([None, "in", "out"])), max_size=12))
def test_counts_equal_the_distinct_phones_of_each_day_and_ever(
        flows: FlowSet, steps: list[tuple[int, list[str], str | None]]) -> None:
    """Whatever one phone does over a few days, a day's counters hold 1 for each mark it
    reached that day, and the totals 1 for each mark it ever reached. (The flow is the
    module's, loaded once: loading it in each of 200 examples was half this test's CPU.)"""
    conv = Conversation(phone=PHONE, flow="join")
    counted: dict[str, dict[str, int]] = {}
    truth: dict[str, set[str]] = {}
    day = 0
    for gap, entered, change in steps:
        day += gap
        now = NOW + day * DAY
        new = conv.model_copy(update={"updated_at": now})
        consent = [ConsentChange(at=now, phone=PHONE, keyword="K", text="", message_id="m",
                                 provider="t", opted_out=change == "out")] if change else []
        result = reach(flows, conv, Step(conversation=new, flow="join", entered=entered,
                                         consent=consent))
        for field in funnel_fields(conv, result):
            name = field.removeprefix(".")
            for bucket in (str(day), "total") if name == field else (str(day),):
                counted.setdefault(bucket, {}).setdefault(name, 0)
                counted[bucket][name] += 1
        marks = {f"f|join|{s}" for s in entered}
        marks |= {f"f|join|@opted_{change}"} if change else set()
        for bucket in (str(day), "total"):
            truth.setdefault(bucket, set()).update(marks)
        conv = result.conversation
    for bucket, marks in truth.items():
        assert counted.get(bucket, {}) == dict.fromkeys(marks, 1), bucket


def test_remembered_records_follow_the_flow_set_in_use(flows: FlowSet, tmp_path: Path) -> None:
    """The record of a step is remembered per flow layout: going back and forth between a
    flow set and a reload of it that moves a state never reuses the other one's bits."""
    moved = (ROOT / "tests" / "flows" / "join.yaml").read_text().replace(
        "declined", "said_no")
    (tmp_path / "join.yaml").write_text(moved)
    reloaded = load_flow_set(tmp_path / "join.yaml", {})
    for flow_set in (flows, reloaded, flows, reloaded):
        conv, fields = run(flow_set, Conversation(phone=PHONE), ["JOIN"])
        assert fields == [["f|join|optin"]]
        assert list(Record.decode(conv.reached, 20_000).entries) == [
            flow_keys(flow_set)["join"]]
