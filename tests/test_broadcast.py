"""Broadcasts: segments, once per recipient (resumable), never to an opted-out phone, quiet
hours, the monthly cap from the opt-in text, dry run, pause and cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.broadcast import BroadcastRunner, BroadcastStore, Status
from bot.broadcast.cap import DEFAULT_MONTHLY_CAP, caps_in, monthly_cap, resolve_cap
from bot.broadcast.segments import SegmentError, parse_segment
from bot.clock import SequentialIds
from bot.engine import Rules, step
from bot.funnel import day_of
from bot.models import BroadcastStart, Conversation, Lane, SendSms
from tests.apphelpers import Bot, start_bot, text
from tests.conftest import make_settings

AnyClient = Any
A, B, C, OUT, STRANGER = (f"+155555501{n}" for n in ("01", "02", "03", "04", "05"))
ALERT = "Thanks, you're in!"


@pytest.fixture
async def bot_client(aiohttp_client: Any, aiohttp_server: Any) -> tuple[Bot, AnyClient]:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    for phone in (A, B, OUT):
        for body in ("JOIN", "YES"):
            await text(client, body, phone)
    await text(client, "UNETE", C)
    await text(client, "SI", C)
    await text(client, "STOP", OUT)
    await text(client, "JOIN", STRANGER)  # never opted in
    await bot.runtime.settle()
    bot.sender.sent.clear()
    return bot, client


def runner_of(bot: Bot) -> tuple[BroadcastRunner, BroadcastStore]:
    rt = bot.runtime

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    store = BroadcastStore(rt.redis, rt.keys)
    return BroadcastRunner(rt.core, rt.consent, rt.outbox, store, rt.settings,
                           sleep=no_wait), store


async def send(bot: Bot, segment: str, cap: int = 4, state: str = "confirmed") -> Any:
    runner, store = runner_of(bot)
    b = await store.create(flow="join", state=state, segment=segment, at=bot.clock.now(),
                           now=bot.clock.now(), cap=cap)
    done = await runner.run(b.id, "test")
    await bot.runtime.settle()
    return done


def alerted(bot: Bot) -> list[str]:
    return sorted(phone for phone, body in bot.sender.sent if ALERT in body)


async def test_reaches_each_subscriber_once_and_never_an_opted_out_one(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, _ = bot_client
    done = await send(bot, "all")
    assert done.status is Status.DONE
    assert alerted(bot) == [A, B]  # C's profile is Spanish: gets the Spanish text
    assert any(phone == C and "Gracias" in body for phone, body in bot.sender.sent)
    assert OUT not in {p for p, _ in bot.sender.sent}
    assert done.counts["sent"] == 3 and done.counts["total"] == 3


async def test_a_resumed_broadcast_sends_nobody_twice(bot_client: tuple[Bot, AnyClient]) -> None:
    bot, _ = bot_client
    runner, store = runner_of(bot)
    done = await send(bot, "lang:en")
    # a crash right after the sends, before the cursor moved: run it again from the start
    await store.advance(done.id, 0)
    await store.set_status(done.id, Status.RUNNING)
    again = await runner.run(done.id, "another-runner")
    await bot.runtime.settle()
    assert alerted(bot) == [A, B]
    assert again.counts["already"] == 2 and again.status is Status.DONE


async def test_segments_select_on_the_profile(bot_client: tuple[Bot, AnyClient]) -> None:
    bot, _ = bot_client
    done = await send(bot, "lang:es")
    assert done.counts["sent"] == 1
    assert [p for p, _ in bot.sender.sent] == [C]


async def test_csv_phones_must_have_opted_in(bot_client: tuple[Bot, AnyClient],
                                             tmp_path: Any) -> None:
    bot, _ = bot_client
    path = tmp_path / "phones.csv"
    path.write_text(f"phone\n{A}\n{OUT}\n{STRANGER}\nnot a number\n")
    done = await send(bot, f"csv:{path}")
    assert alerted(bot) == [A]
    assert done.counts["skipped_opted_out"] == 1
    assert done.counts["skipped_not_subscribed"] == 1
    assert done.counts["skipped_invalid"] == 2  # the header and the junk row


async def test_monthly_cap_counts_broadcasts_per_phone(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, _ = bot_client
    await send(bot, "lang:en", cap=1)
    second = await send(bot, "lang:en", cap=1)
    assert second.counts["skipped_cap"] == 2 and second.counts["sent"] == 0
    assert alerted(bot) == [A, B]


async def test_quiet_hours_move_a_recipient_to_the_morning(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, _ = bot_client
    runner, store = runner_of(bot)
    bot.clock.advance(11 * 3600)  # 16:00 UTC + 11 h = 22:00 in New York
    b = await store.create(flow="join", state="confirmed", segment="lang:en",
                           at=bot.clock.now(), now=bot.clock.now(), cap=4)
    waiting = await runner.run(b.id, "test")
    await bot.runtime.settle()
    assert waiting.status is Status.RUNNING and waiting.counts["deferred"] == 2
    assert alerted(bot) == []
    bot.clock.advance(10 * 3600)  # 08:00 in New York
    done = await runner.run(b.id, "test")
    await bot.runtime.settle()
    assert done.status is Status.DONE and alerted(bot) == [A, B]


async def test_dry_run_counts_and_sends_nothing(bot_client: tuple[Bot, AnyClient],
                                                tmp_path: Any) -> None:
    bot, _ = bot_client
    runner, _ = runner_of(bot)
    path = tmp_path / "phones.csv"
    path.write_text(f"{A}\n{B}\n{OUT}\n{STRANGER}\n")
    dry = await runner.dry_run(parse_segment(f"csv:{path}"), cap=4)
    assert dry.would_send == 2 and dry.deferred_quiet == 0
    assert dry.skipped == {"skipped_opted_out": 1, "skipped_not_subscribed": 1}
    await bot.runtime.settle()
    assert bot.sender.sent == []


async def test_paused_and_cancelled_broadcasts_send_nothing(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, _ = bot_client
    runner, store = runner_of(bot)
    b = await store.create(flow="join", state="confirmed", segment="all",
                           at=bot.clock.now(), now=bot.clock.now(), cap=4)
    assert await store.set_status(b.id, Status.PAUSED)
    assert (await runner.run(b.id, "test")).counts["sent"] == 0
    await store.set_status(b.id, Status.CANCELLED)
    assert not await store.set_status(b.id, Status.RUNNING, only_from=(Status.PAUSED,))
    assert (await runner.run(b.id, "test")).status is Status.CANCELLED
    await bot.runtime.settle()
    assert bot.sender.sent == []


def test_broadcast_texts_go_in_the_bulk_lane_and_skip_opted_out_phones() -> None:
    from bot.runtime import load_flows

    flows = load_flows(make_settings())
    event = BroadcastStart(phone=A, broadcast_id="b1", flow="join", state="confirmed")
    result = step(flows, Conversation(phone=A), event, 1.0, SequentialIds(), Rules())
    texts = [e for e in result.effects if isinstance(e, SendSms)]
    assert texts and all(t.lane is Lane.BULK for t in texts)
    out = step(flows, Conversation(phone=A, opted_out=True), event, 1.0, SequentialIds(),
               Rules())
    assert out.effects == [] and out.note == "broadcast_skipped"


def test_the_cap_is_what_the_opt_in_text_promises() -> None:
    from bot.runtime import load_flows

    assert caps_in("Up to 4 msgs/month. Msg & data rates may apply.") == [4]
    assert caps_in("Hasta 6 msjs/mes.") == [6]
    assert caps_in("Msg frequency varies. Frecuencia de msjs varia.") == []
    flows = load_flows(make_settings())  # "Msg frequency varies": no number promised
    assert monthly_cap(flows) is None
    assert resolve_cap(None, flows) == (DEFAULT_MONTHLY_CAP, "default (the opt-in texts "
                                                             "name no number)")
    assert resolve_cap(2, flows) == (2, "BROADCAST_MONTHLY_CAP")


@pytest.mark.parametrize("bad", ["", "colour:red", "lang", "csv:/no/such/file.csv"])
def test_bad_segments_say_why(bad: str) -> None:
    with pytest.raises(SegmentError):
        parse_segment(bad)


@pytest.mark.parametrize(("phone", "state"), [
    ("+14155550123", "CA"), ("+12025550100", "DC"), ("+13055551234", "FL"),
    ("+15125550000", "TX"), ("+447700900000", None)])
def test_the_state_segment_comes_from_the_area_code(phone: str, state: str | None) -> None:
    from bot.usregion import us_state

    assert us_state(phone) == state


async def test_a_scheduled_broadcast_waits_for_its_time(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, _ = bot_client
    runner, store = runner_of(bot)
    b = await store.create(flow="join", state="confirmed", segment="lang:en",
                           at=bot.clock.now() + 3600, now=bot.clock.now(), cap=4)
    assert await store.due_ids(bot.clock.now()) == []
    assert (await runner.run(b.id, "test")).status is Status.SCHEDULED
    bot.clock.advance(3600)
    assert await store.due_ids(bot.clock.now()) == [b.id]
    assert (await runner.run(b.id, "test")).status is Status.DONE
    assert await store.due_ids(bot.clock.now()) == []
    await bot.runtime.settle()
    assert alerted(bot) == [A, B]


async def test_a_broadcast_counts_in_its_flows_funnel(
        bot_client: tuple[Bot, AnyClient]) -> None:
    from bot.stats import StatsReader

    bot, _ = bot_client
    bot.clock.advance(86400)  # the phones opted in yesterday; the alert goes out today
    await send(bot, "lang:en")
    reader = StatsReader(bot.runtime.redis, bot.runtime.keys)
    today = await reader.day(day_of(bot.clock.now()))
    assert alerted(bot) == [A, B]
    assert today.flows["join"].states == {"confirmed": 2}  # the two phones alerted today
    total = await reader.day("total")
    assert total.flows["join"].states["confirmed"] == 4  # four phones: once each, ever
    assert "-" not in total.flows
