"""The funnel counts phones, not entries: a second CALL, a state entered again, a second
opt-out the same day add nothing; a phone counts again on a later day (in that day's
numbers) but once in the all-time totals. Through the real app, store and commit script."""

from __future__ import annotations

from typing import Any

from bot.funnel import day_of
from bot.stats import StatsReader, format_report
from bot.store.subscribers import SubscriberIndex
from tests.apphelpers import Bot, start_bot, text
from tests.conftest import make_settings
from tests.test_advocacy import REAL_LOOKING, Voter, start, walk_to_code

AnyClient = Any
PHONE = "+15555550100"
OTHER = "+15555550111"


async def says(bot: Bot, client: AnyClient, phone: str, *bodies: str) -> None:
    for body in bodies:
        assert (await text(client, body, phone)).status == 200
        await bot.runtime.settle()


async def numbers(bot: Bot, day: str) -> Any:
    return await StatsReader(bot.runtime.redis, bot.runtime.keys).day(day)


async def test_two_calls_are_one_connected_phone(aiohttp_client: Any,
                                                 aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server)
    voter = Voter(bot, client, sandbox, REAL_LOOKING)
    await voter.says(await walk_to_code(voter, "local"))
    await voter.says("1")
    await voter.says("1 Main St, Kansas City 64108")
    for _ in range(2):
        assert (await voter.says("CALL"))[-1].startswith("Your phone will ring now")
    assert len([r for r in sandbox.log.requests if r.path == "/p2a/connections"]) == 2
    for day in (day_of(bot.clock.now()), "total"):
        stats = await numbers(bot, day)
        flow, campaign = stats.flows["advocacy"], stats.campaigns["1001"]
        assert flow.milestones == {"opted_in": 1, "verified": 1, "picked_campaign": 1,
                                   "found_legislators": 1, "connected": 1}, day
        assert flow.states["call"] == 1 and flow.states["calling"] == 1
        assert campaign.milestones == {"picked_campaign": 1, "found_legislators": 1,
                                       "connected": 1}, day
    report = format_report(await StatsReader(bot.runtime.redis, bot.runtime.keys).report(
        days=1, now=bot.clock.now()))
    assert "connected=1" in report and "connected=2" not in report


async def test_two_phones_count_two_and_a_state_entered_again_counts_once(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    await says(bot, client, PHONE, "JOIN", "no", "JOIN", "no", "JOIN", "YES")
    await says(bot, client, OTHER, "JOIN", "YES")
    for day in (day_of(bot.clock.now()), "total"):
        join = (await numbers(bot, day)).flows["join"]
        assert join.states == {"optin": 2, "declined": 1, "confirmed": 2}, day
        assert join.milestones == {"opted_in": 2}, day


def phones(stats: Any, milestone: str) -> int:
    """Over every flow: a START after the flow ended is counted outside it (`-`)."""
    return sum(f.milestones.get(milestone, 0) for f in stats.flows.values())


async def test_opted_out_counts_phones_per_day_and_once_in_the_totals(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    await says(bot, client, PHONE, "JOIN", "YES", "STOP", "START", "STOP")
    first = day_of(bot.clock.now())
    assert (await numbers(bot, first)).flows["join"].milestones == {"opted_in": 1,
                                                                    "opted_out": 1}
    bot.clock.advance(86400)
    await says(bot, client, PHONE, "START", "STOP")
    second = await numbers(bot, day_of(bot.clock.now()))
    assert (phones(second, "opted_in"), phones(second, "opted_out")) == (1, 1)
    assert phones(await numbers(bot, first), "opted_out") == 1
    total = await numbers(bot, "total")
    assert (phones(total, "opted_in"), phones(total, "opted_out")) == (1, 1)
    assert total.flows["join"].milestones == {"opted_in": 1, "opted_out": 1}


async def test_a_state_reached_again_on_a_later_day_counts_that_day_only(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    await says(bot, client, PHONE, "JOIN", "no")
    bot.clock.advance(86400)
    await says(bot, client, PHONE, "JOIN", "no")
    today = (await numbers(bot, day_of(bot.clock.now()))).flows["join"]
    assert today.states == {"optin": 1, "declined": 1}
    assert (await numbers(bot, "total")).flows["join"].states == {"optin": 1, "declined": 1}


async def test_a_conversation_stored_before_the_record_counts_from_empty(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    runtime = bot.runtime
    key = runtime.keys.conversation(PHONE)
    await runtime.redis.set(key, '3|{"f":"join","s":"optin","k":1,"n":1,"u":1000}')
    await says(bot, client, PHONE, "YES")
    stored = await runtime.redis.get(key)
    assert stored is not None and b'"m":"' in stored
    total = (await numbers(bot, "total")).flows["join"]
    assert total.states == {"confirmed": 1} and total.milestones == {"opted_in": 1}


async def test_a_start_after_a_stop_rejoins_the_flow_it_left(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    """The subscriber index (what `--to flow:NAME` broadcasts select) and the funnel put a
    re-subscribed phone back under the flow it stopped in, not under "-"."""
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    await says(bot, client, PHONE, "JOIN", "YES", "STOP")
    keys, redis = bot.runtime.keys, bot.runtime.redis
    assert await redis.hget(keys.subscribers(PHONE), PHONE) is None
    index = SubscriberIndex(redis, keys)
    assert [p async for p, _ in index.scan()] == [] and await index.count() == 0
    bot.clock.advance(86400)
    await says(bot, client, PHONE, "START")
    assert await index.get(PHONE) == {"flow": "join", "lang": "en"}
    today = await numbers(bot, day_of(bot.clock.now()))
    assert today.flows["join"].milestones == {"opted_in": 1}
    assert "-" not in today.flows
    assert [p async for p, _ in index.scan()] == [PHONE] and await index.count() == 1
