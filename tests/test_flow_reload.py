"""Changing flows without a restart: checked before the swap, every process told through
Redis, and no conversation left in a state that vanished."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import fakeredis
import pytest

from bot.actions import build_registry
from bot.clock import FrozenClock, SequentialIds
from bot.engine import Rules, step
from bot.flow import FlowSet, load_flow_set
from bot.flowreload import ReloadWatcher, announce, flow_reloads, reload_now
from bot.models import ActionResult, Conversation, Inbound, SendSms, Step, TimerFired
from bot.runtime import Runtime, open_runtime
from bot.sms import MemorySender
from tests.conftest import make_settings

PHONE = "+15555550100"
ACTIONS = build_registry(make_settings()).params_models()

V1 = """\
name: poll
keywords: [POLL]
start: ask
states:
  ask:
    say: "Question one?"
    on:
      - when: text
        goto: second
    timeout: {after: 60, goto: done}
  second:
    say: "Question two?"
    on:
      - when: text
        goto: done
    timeout: {after: 60, goto: done}
  done:
    say: "Thanks"
    end: true
"""
V2 = V1.replace("goto: second", "goto: done").replace(
    '  second:\n    say: "Question two?"\n    on:\n      - when: text\n        goto: done\n'
    "    timeout: {after: 60, goto: done}\n", "").replace("Question one?", "Only question?")


def flows_of(tmp_path: Path, text: str, name: str = "poll.yaml") -> FlowSet:
    path = tmp_path / name
    path.write_text(text)
    return load_flow_set(path, ACTIONS)


def texts(result: Step) -> list[str]:
    return [e.body for e in result.effects if isinstance(e, SendSms)]


def text_event(body: str, n: int = 1) -> Inbound:
    return Inbound(provider="t", message_id=f"m{n}", phone=PHONE, body=body, received_at=0.0)


def test_a_conversation_in_a_vanished_state_restarts_the_flow(tmp_path: Path) -> None:
    conv = Conversation(phone=PHONE, flow="poll", state="second", vars={"old": "x"})
    result = step(flows_of(tmp_path, V2), conv, text_event("an answer"), 0.0,
                  SequentialIds(), Rules(program="Acme"))
    assert texts(result) == [
        "Sorry, this conversation was changed on our side, so we are starting it again.",
        "Only question?"]
    assert (result.conversation.state, result.conversation.vars) == ("ask", {})


def test_a_timer_in_a_vanished_state_ends_it_without_a_text(tmp_path: Path) -> None:
    """The voter is not waiting on a timer (it may fire at night): no text, never stuck."""
    conv = Conversation(phone=PHONE, flow="poll", state="second", token=4)
    result = step(flows_of(tmp_path, V2), conv, TimerFired(timer_id="t", phone=PHONE,
                  name="timeout:second", token=4), 0.0, SequentialIds(), Rules())
    assert (result.note, result.effects) == ("flow_gone_quiet", [])
    assert (result.conversation.flow, result.conversation.state) == (None, None)


def test_an_action_result_in_a_vanished_state_restarts_the_flow(tmp_path: Path) -> None:
    conv = Conversation(phone=PHONE, flow="poll", state="second", pending="e9")
    result = step(flows_of(tmp_path, V2), conv, ActionResult(
        effect_id="e9", phone=PHONE, action="webhook", ok=True), 0.0, SequentialIds(),
        Rules())
    assert texts(result)[-1] == "Only question?"
    assert result.conversation.state == "ask"


def test_a_conversation_of_a_vanished_flow_ends_with_a_short_text(tmp_path: Path) -> None:
    conv = Conversation(phone=PHONE, flow="gone", state="second", lang="es")
    result = step(flows_of(tmp_path, V2), conv, text_event("hola"), 0.0, SequentialIds(),
                  Rules(program="Acme"))
    assert texts(result) == ["Acme: Perdon, esta conversacion ya no esta disponible. Responda "
                             "AYUDA para ayuda."]
    assert (result.conversation.flow, result.conversation.state) == (None, None)


def test_a_keyword_from_a_vanished_state_just_starts_the_flow(tmp_path: Path) -> None:
    conv = Conversation(phone=PHONE, flow="poll", state="second")
    result = step(flows_of(tmp_path, V2), conv, text_event("POLL"), 0.0, SequentialIds(),
                  Rules())
    assert texts(result) == ["Only question?"]


async def runtime_for(stack: AsyncExitStack, folder: Path, server: fakeredis.FakeServer
                      ) -> Runtime:
    settings = make_settings(flow_path=folder)
    return await stack.enter_async_context(open_runtime(
        settings, redis=fakeredis.FakeAsyncRedis(server=server), sender=MemorySender(),
        clock=FrozenClock(), ids=SequentialIds()))


@pytest.fixture
async def two_processes(tmp_path: Path) -> AsyncIterator[tuple[Path, Runtime, Runtime]]:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "poll.yaml").write_text(V1)
    server = fakeredis.FakeServer()
    async with AsyncExitStack() as stack:
        yield (folder, await runtime_for(stack, folder, server),
               await runtime_for(stack, folder, server))


async def test_a_broken_change_is_refused_and_the_running_flows_stay(
        two_processes: tuple[Path, Runtime, Runtime]) -> None:
    folder, runtime, _ = two_processes
    before = runtime.core.flows
    (folder / "poll.yaml").write_text(V2.replace("goto: done\n    timeout", "goto: dnoe\n"
                                                 "    timeout", 1))
    result = reload_now(runtime)
    assert not result.ok
    assert "leads to 'dnoe', which is not defined. Did you mean 'done'?" in result.message
    assert runtime.core.flows is before


async def test_every_process_reloads_when_one_announces(
        two_processes: tuple[Path, Runtime, Runtime]) -> None:
    folder, first, second = two_processes
    watchers = [ReloadWatcher(first), ReloadWatcher(second)]
    for watcher in watchers:
        await watcher.start()
    assert [await w.poll() for w in watchers] == [None, None]  # nothing announced yet
    (folder / "poll.yaml").write_text(V2)
    assert await announce(first.redis, first.keys) == 1
    results = [await w.poll() for w in watchers]
    assert [r.ok for r in results if r] == [True, True]
    for runtime in (first, second):
        assert "second" not in runtime.core.flows.flows["poll"].spec.states
    assert [await w.poll() for w in watchers] == [None, None]  # once per announcement


async def test_sighup_reloads_this_process_and_announces_it(
        two_processes: tuple[Path, Runtime, Runtime]) -> None:
    folder, runtime, _ = two_processes
    (folder / "poll.yaml").write_text(V2)
    async with flow_reloads(runtime, watch=True) as watcher:
        assert watcher is not None
        os.kill(os.getpid(), signal.SIGHUP)

        async def reloaded() -> None:
            while "second" in runtime.core.flows.flows["poll"].spec.states:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(reloaded(), timeout=5)
        while watcher.seen != 1:  # the announcement follows the swap
            await asyncio.sleep(0.01)
    assert await runtime.redis.get(runtime.keys.flows_reload()) == b"1"


def test_reload_command_refuses_broken_flows_and_announces_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.__main__ import main

    monkeypatch.setattr("bot.__main__.setup_logging", lambda *args, **kwargs: None)
    (tmp_path / "poll.yaml").write_text(V1.replace("start: ask", "start: aks"))
    monkeypatch.setenv("FLOW_PATH", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["flows", "reload"]) == 2
    err = capsys.readouterr().err
    assert "start state 'aks' is not defined. Did you mean 'ask'?" in err
    assert "Nothing reloaded: the running flows stay." in err


def test_reload_command_without_redis_says_the_flows_passed_and_how_to_reload(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.__main__ import main

    monkeypatch.setattr("bot.__main__.setup_logging", lambda *args, **kwargs: None)
    (tmp_path / "poll.yaml").write_text(V1)
    monkeypatch.setenv("FLOW_PATH", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["flows", "reload"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("The flows pass the check, but nothing was reloaded")
    assert "kill -HUP <pid of python -m bot serve>" in err
