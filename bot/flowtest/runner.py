"""Run conversation scripts against the real bot, in process: the engine, the store on
fakeredis, the worker, every action through its real client to the sandboxes (served on a
local port), a frozen clock. Each script starts from a fresh phone, Redis and sandbox.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import fakeredis
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr, TypeAdapter

from bot.clock import FrozenClock, SequentialIds
from bot.config import Settings
from bot.flow import FlowSet
from bot.flowtest.script import (
    FIXED_SETTINGS,
    SERVICES,
    Script,
    ScriptFile,
    ScriptStep,
    is_regex,
    seconds,
)
from bot.models import Inbound, Step
from bot.retry import RetryPolicy
from bot.runtime import Runtime, open_runtime
from bot.sandbox import SANDBOX, Sandbox, create_sandbox_app
from bot.sms import MemorySender
from bot.upstream.webhook import SIGNATURE_HEADER, signature_ok

SETTLE_SECONDS = 20.0
#: One upstream or webhook call's timeout in a flow test: a `timeout` answer costs this much
#: real time (the production 10 s would make two of them miss SETTLE_SECONDS); a sandbox
#: answers in milliseconds. A script's `settings:` may still set them.
CALL_TIMEOUT_SECONDS = 2.0
#: One phone talks at a time on a private fakeredis: one shard is all a script needs, and
#: the worker's passes over 48 shards (reads, timers, the settle poll) were most of its CPU.
SHARDS = 1
HANG_SECONDS = 30.0  # how long a staff target told to `timeout` keeps the call waiting
STAFF_SECRET = "flow-test-webhook-secret"


@dataclass
class Mismatch:
    """The first step whose texts were not as expected."""

    step: int
    sent: str | None
    expected: list[str]
    actual: list[str]
    error: str = ""


@dataclass
class ScriptResult:
    file: Path
    name: str
    seconds: float
    mismatch: Mismatch | None = None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


@dataclass
class Visits:
    """Which states of which flow some script entered."""

    states: dict[str, set[str]] = field(default_factory=dict)

    def record(self, flow: str | None, entered: list[str]) -> None:
        if flow is not None:
            self.states.setdefault(flow, set()).update(entered)


def script_settings(flow_path: Path, overrides: dict[str, Any]) -> Settings:
    """Defaults only (never this machine's environment), plus the script file's overrides."""
    fields = Settings.model_fields
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in fields or name in FIXED_SETTINGS:
            raise ValueError(f"settings: {name!r} cannot be set in a flow test")
        annotation: Any = fields[name].annotation
        values[name] = TypeAdapter(annotation).validate_python(value)
    base = Settings.model_construct()
    quick = {"upstream_timeout": CALL_TIMEOUT_SECONDS, "webhook_timeout": CALL_TIMEOUT_SECONDS,
             "redis_shards": SHARDS}
    return base.model_copy(update={**quick, **values, "flow_path": flow_path, "redis_url": None,
                                   "run_worker": False, "sms_sender": "console"})


def matches(expectation: str, text: str) -> re.Match[str] | bool:
    if is_regex(expectation):
        return re.search(expectation[1:-1], text) or False
    return expectation in text


async def run_file(flows: FlowSet, flow_path: Path, file: Path, scripts: ScriptFile,
                   visits: Visits) -> list[ScriptResult]:
    """Every script of one file, one after the other."""
    results = []
    for script in scripts.scripts:
        settings = script_settings(flow_path, {**scripts.settings, **script.settings})
        results.append(await run_script(flows, settings, file, script, visits))
    return results


async def run_script(flows: FlowSet, settings: Settings, file: Path, script: Script,
                     visits: Visits) -> ScriptResult:
    started = time.perf_counter()
    sandbox_app = create_sandbox_app()
    staff = StaffEndpoint(STAFF_SECRET.encode())
    sandbox_app.router.add_post("/flowtest-staff/{target}", staff.handle)  # not the stand-in
    server = TestServer(sandbox_app, host="127.0.0.1")
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        targets = (script.webhook_targets if script.webhook_targets is not None
                   else webhook_targets(flows))
        settings = settings.model_copy(update={
            **{f"{s}_api_base": f"{root}/{s}" for s in SERVICES},
            "webhook_targets": {t: f"{root}/flowtest-staff/{t}" for t in targets},
            "webhook_secret": SecretStr(STAFF_SECRET)})
        mismatch = await _converse(flows, settings, script, sandbox_app[SANDBOX], staff, visits)
    finally:
        await server.close()
    return ScriptResult(file, script.name, time.perf_counter() - started, mismatch)


async def _converse(flows: FlowSet, settings: Settings, script: Script, sandbox: Sandbox,
                    staff: StaffEndpoint, visits: Visits) -> Mismatch | None:
    clock = FrozenClock(datetime.fromisoformat(script.clock).timestamp() if script.clock
                        else FrozenClock().t)
    sender = MemorySender()
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    async with open_runtime(settings, redis=redis, sender=sender, clock=clock,
                            ids=SequentialIds(), flows=flows) as runtime:

        def observe(phone: str, step: Step) -> None:
            visits.record(step.flow, step.entered)

        runtime.core.observers.append(observe)
        await runtime.outbox.ensure_groups()
        # Retries as many as in production, without the waits between them.
        worker = runtime.new_worker(retry=RetryPolicy(max_tries=settings.worker_max_tries,
                                                      sleep=_no_pause))
        task = asyncio.create_task(worker.run())
        try:
            return await _steps(runtime, script, Stands(sandbox, staff), sender, clock)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _steps(runtime: Runtime, script: Script, stands: Stands, sender: MemorySender,
                 clock: FrozenClock) -> Mismatch | None:
    captured: dict[str, str] = {}
    forced: dict[tuple[str, str], int] = {}  # (service, route or target) -> its step
    seen = 0
    for number, turn in enumerate(script.steps, start=1):
        try:
            body = turn.send.format_map(captured) if turn.send is not None else None
        except KeyError as exc:
            return Mismatch(number, turn.send, turn.expect, [],
                            f"{{{exc.args[0]}}} was not captured by an earlier /(?P<name>...)/")
        try:
            _force_failures(stands, turn)
            forced.update({(service, route): number for service, routes in turn.fail.items()
                           for route in routes})
            if turn.wait is not None:
                clock.advance(seconds(turn.wait))
                for shard in runtime.keys.all_shards():
                    await runtime.outbox.move_due_timers(shard, clock.now())
            if body is not None:
                await runtime.core.apply(script.phone, Inbound(
                    provider="flowtest", message_id=f"ft{number}", phone=script.phone,
                    body=body, received_at=clock.now()), dedup=f"flowtest:{number}")
            await runtime.settle(timeout=SETTLE_SECONDS)
        except TimeoutError:
            return Mismatch(number, body, turn.expect, [], "the bot did not settle in "
                            f"{SETTLE_SECONDS:.0f} seconds")
        texts = [b for to, b in sender.sent if to == script.phone]
        new, seen = texts[seen:], len(texts)
        if not _compare(turn.expect, new, captured):
            return Mismatch(number, body, turn.expect, new)
    return _never_called(forced, stands, script)


def _never_called(forced: dict[tuple[str, str], int], stands: Stands, script: Script
                  ) -> Mismatch | None:
    """A `fail:` for a route or target the bot never called is a misspelt route (it
    would let the script pass without testing the failure it names)."""
    for (service, route), number in forced.items():
        if service == "webhook":
            called = set(stands.staff.taken) | stands.staff.called
        else:
            called = {r.route for r in stands.sandbox.log.requests if r.service == service}
        if route not in called:
            step = script.steps[number - 1]
            what = "target" if service == "webhook" else "route"
            return Mismatch(number, step.send, step.expect, [], f"fail: {service} {what} "
                            f"{route!r} was never called, so it never failed. "
                            f"{service} {what}s called: {', '.join(sorted(called)) or 'none'}")
    return None


async def _no_pause(seconds: float) -> None:
    """A flow test does not wait out the pauses between retries."""


def _force_failures(stands: Stands, turn: ScriptStep) -> None:
    for service, routes in turn.fail.items():
        if service == "webhook":
            for target, kinds in routes.items():
                stands.staff.answers.setdefault(target, []).extend(kinds)
            continue
        if service not in SERVICES:
            raise ValueError(f"fail: unknown service {service!r} (services: "
                             f"{', '.join(SERVICES)}, webhook)")
        state = stands.sandbox.service(service)
        for route, kinds in routes.items():
            state.fail_next.setdefault(route, []).extend(kinds)


def webhook_targets(flows: FlowSet) -> list[str]:
    """Every `to:` of a `webhook` action in the flows."""
    return sorted({str(s.action.params.get("to", "")) for f in flows.flows.values()
                   for s in f.spec.states.values()
                   if s.action is not None and s.action.type == "webhook"})


@dataclass
class Stands:
    """What stands in for the outside world in a flow test."""

    sandbox: Sandbox
    staff: StaffEndpoint


class StaffEndpoint:
    """A staff webhook receiver: refuses a bad signature (401), counts what it took per
    target, and answers `{"count": N}`, or as a script's `fail:` says (a status, `empty`
    for `{}`, or `timeout`: no answer in time)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.taken: dict[str, list[dict[str, Any]]] = {}
        self.answers: dict[str, list[int | str]] = {}
        self.called: set[str] = set()

    async def handle(self, request: web.Request) -> web.Response:
        target = request.match_info["target"]
        self.called.add(target)
        raw = await request.read()
        if not signature_ok(self.secret, raw, request.headers.get(SIGNATURE_HEADER, "")):
            return web.json_response({"error": "bad signature"}, status=401)
        queued = self.answers.get(target) or []
        forced = queued.pop(0) if queued else None
        if forced == "empty":
            return web.json_response({})
        if forced == "timeout":
            await asyncio.sleep(HANG_SECONDS)
            return web.json_response({"error": "gave up"}, status=504)
        if forced is not None:
            return web.json_response({"error": "forced"}, status=int(forced))
        taken = self.taken.setdefault(target, [])
        taken.append(json.loads(raw))
        return web.json_response({"count": len(taken)})


def _compare(expected: list[str], actual: list[str], captured: dict[str, str]) -> bool:
    if len(expected) != len(actual):
        return False
    for expectation, text in zip(expected, actual, strict=True):
        found = matches(expectation, text)
        if not found:
            return False
        if isinstance(found, re.Match):
            captured.update({k: v for k, v in found.groupdict().items() if v is not None})
    return True
