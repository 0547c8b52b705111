"""Replaying a Phone2Action call (`p2a_call`) the worker dead-lettered as unknown: P2A's
connections list is read first (`bot.lookup.call_started`). Listed: settled as done, the
phone is not rung again; confirmed absent: queued and called once; the list cannot tell
(an error answer, a timeout, too soon for P2A to have listed it): kept unless --force.

The dead letters are made by the real worker against the sandbox (its fault switches);
the lookup's notion of "now" is passed in, never waited for.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from bot.dead import DeadLetter, DeadLetters, Replay, run_dead_command
from bot.lookup import P2A_LISTED_WITHIN, P2A_PAGE
from tests.actions.conftest import Env
from tests.actions.test_through_the_worker import ROUTE, World, call_world
from tests.upstream.conftest import HASTY_TIMEOUT

LIST = "GET /connections"
POST = "POST /p2a/connections"


def later() -> float:
    """A staff member's clock once P2A has had time to list any call it started."""
    return time.time() + P2A_LISTED_WITHIN + 1


async def unclear_call(env: Env, w: World, *, started: bool) -> tuple[DeadLetters, DeadLetter]:
    """CALL whose answer is lost and whose lookup fails: the worker's unknown dead letter.
    `started`: P2A did start the call (`lost`: done, answer lost) or did not (500 first)."""
    env.sandbox.p2a.fail_next[ROUTE] = ["lost" if started else 500]
    env.sandbox.p2a.fail_next[LIST] = [503]  # the worker's own lookup cannot read the list
    await w.text("GO", "SM1")
    await w.work(tries=1)
    assert env.sandbox.p2a.fail_next[ROUTE] == [] and env.sandbox.p2a.fail_next[LIST] == []
    assert w.texts()[-1] == "Other"  # the flow heard `unclear`
    rt = w.runtime
    letters = DeadLetters(rt.redis, rt.keys, rt.upstreams, sender=rt.settings.sms_sender)
    [letter] = await letters.list()
    assert letter.unknown and letter.effect.type == "action"
    assert env.calls().count(POST) == 1
    return letters, letter


async def test_a_call_p2a_lists_is_settled_as_done_and_not_rung_again(
        env: Env, tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        _, letter = await unclear_call(env, w, started=True)
        assert len(env.sandbox.p2a.calls) == 1
        out = io.StringIO()
        status = await run_dead_command(w.runtime.settings, "replay", letter.id, out=out,
                                        runtime=w.runtime)
        assert status == 0
        assert out.getvalue().strip() == Replay.ALREADY_CALLED.value
        assert "not rung again" in out.getvalue()
        await w.work(tries=1)
        assert len(env.sandbox.p2a.calls) == 1 and env.calls().count(POST) == 1
        lookup = [r for r in env.sandbox.log.requests if r.route == LIST][-1]
        assert lookup.query["campaign_id"] == "1001"
        assert int(lookup.query["updated_at"]) <= letter.at  # from before the effect ran
        assert await DeadLetters(w.runtime.redis, w.runtime.keys).list() == []


async def test_a_call_confirmed_absent_is_replayed_and_rings_once(
        env: Env, tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        soon, letter = await unclear_call(env, w, started=False)
        assert env.sandbox.p2a.calls == []
        # Right after, an empty list is no proof (P2A may list a call late): kept.
        assert await soon.replay(letter.id) is Replay.STILL_UNKNOWN
        assert [x.id for x in await soon.list()] == [letter.id]
        rt = w.runtime
        settled = DeadLetters(rt.redis, rt.keys, rt.upstreams, clock=later)
        assert await settled.replay(letter.id) is Replay.QUEUED
        await w.work(tries=1)
        assert len(env.sandbox.p2a.calls) == 1 and env.calls().count(POST) == 2
        assert await settled.list() == []


@pytest.mark.parametrize("kind", [401, 404, 422, 429, 500, 503, "empty", "timeout"])
async def test_a_list_that_cannot_tell_keeps_the_letter_until_forced(
        env: Env, tmp_path: Path, kind: int | str) -> None:
    """P2A's documented error answers, a timeout, and a list of another shape (`[]`, not
    a map keyed by id): none proves anything, so nothing is called without --force."""
    async with call_world(env, tmp_path) as w:
        _, letter = await unclear_call(env, w, started=False)
        env.configure(upstream_timeout=HASTY_TIMEOUT)  # a timeout costs 0.05 s, not 0.5 s
        env.sandbox.p2a.hang_seconds = 0.2
        rt = w.runtime
        letters = DeadLetters(rt.redis, rt.keys, env.upstreams, clock=later)
        env.sandbox.p2a.fail_next[LIST] = [kind]
        assert await letters.replay(letter.id) is Replay.STILL_UNKNOWN
        assert env.sandbox.p2a.fail_next[LIST] == []  # the lookup met the fault
        assert [x.id for x in await letters.list()] == [letter.id]
        await w.work(tries=1)
        assert env.calls().count(POST) == 1  # not called again
        assert await letters.replay(letter.id, force=True) is Replay.QUEUED
        await w.work(tries=1)
        assert env.calls().count(POST) == 2


async def test_every_page_is_read_before_absence_counts(env: Env, tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        letters, letter = await unclear_call(env, w, started=True)
        connections = env.sandbox.p2a.connections
        mine = dict(connections)
        connections.clear()  # the advocate's call comes after a full page of others'
        now = int(time.time())
        for n in range(P2A_PAGE + 20):
            connections[900_000 + n] = {
                "campaign_id": 1001, "advocate_id": 7, "legislator_id": 3001,
                "legislator_name": "Jordan Avery", "type": "CALL", "status": "INITIATED",
                "created_at": now, "updated_at": now}
        connections.update(mine)
        rt = w.runtime
        settled = DeadLetters(rt.redis, rt.keys, rt.upstreams, clock=later)
        assert await settled.replay(letter.id) is Replay.ALREADY_CALLED
        pages = [r.query["page"] for r in env.sandbox.log.requests if r.route == LIST]
        assert pages[-2:] == ["1", "2"]
        assert env.calls().count(POST) == 1


async def test_a_call_made_before_the_window_and_updated_since_is_not_this_one(
        env: Env, tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        _, letter = await unclear_call(env, w, started=False)
        advocate = int(str(letter.effect.model_dump()["params"]["advocate_id"]))
        old = int(letter.at) - 2 * 3600  # an earlier call, its status updated just now
        env.sandbox.p2a.connections[800_001] = {
            "campaign_id": 1001, "advocate_id": advocate, "legislator_id": 3001,
            "legislator_name": "Jordan Avery", "type": "CALL", "status": "COMPLETED",
            "created_at": old, "updated_at": int(time.time())}
        rt = w.runtime
        settled = DeadLetters(rt.redis, rt.keys, rt.upstreams, clock=later)
        assert await settled.replay(letter.id) is Replay.QUEUED
        await w.work(tries=1)
        assert len(env.sandbox.p2a.calls) == 1
