"""The sandboxes of the fault suite: the benchmark's (`bot.bench.sandbox`), plus fault
switches and effect counts over HTTP, so the suite (another process) can break an upstream
for a while and then count what each upstream actually did.

- `POST /_faults/fail` `{"service", "route", "kinds", "hang_seconds"?, "retry_after"?}`:
  the next `len(kinds)` calls of that route fail that way (`ServiceState.fail_next`: a
  status such as 500 or 429, `timeout`, `late`...); then the service works again.
- `GET /_faults/effects`: per service, what took effect, per E.164 phone: `texts` (every
  body Twilio and Quorum accepted), `codes` (TeleSign Verify sends, and the sign-in codes
  WeVote texted: one entry per text, a resent code counts again), `subscriptions`
  (WhatCounts), `calls` (Phone2Action call connections started); and `faults_left`, per
  service, the forced failures not yet reached.

`python -m bot.faults.sandbox --ports 9001,9002,... [--telesign-callback URL]` serves it as
the benchmark's does; with a callback URL, TeleSign posts a signed delivery report for
every message it accepted (`bot.sandbox.telesign_reports`), as the real one does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import defaultdict
from typing import Any

from aiohttp import web

from bot.bench import sandbox as bench
from bot.sandbox import SANDBOX, Sandbox


def effects(sandbox: Sandbox) -> dict[str, dict[str, list[str]]]:
    """What every upstream did, by phone (E.164)."""
    out: dict[str, defaultdict[str, list[str]]] = {
        name: defaultdict(list)
        for name in ("texts", "codes", "subscriptions", "calls", "faults_left")}
    for message in sandbox.twilio.messages:
        out["texts"][message["to"]].append(message["body"])
    for row in sandbox.quorum.sends:
        out["texts"][row["to"]].append(row["message_content"])
    for txn in sandbox.telesign.transactions.values():
        out["codes"][f"+{txn['phone']}"].append(txn["code"])
    for phone, code in sandbox.wevote.codes_sent:
        out["codes"][phone].append(code)
    for message in sandbox.telesign.messages:
        out["texts"][f"+{message['phone_number']}"].append(message["message"])
    for (digits, code) in sandbox.whatcounts.subscriptions:
        out["subscriptions"][f"+1{digits[-10:]}"].append(code)
    phones = {a["id"]: a["phones"][0]["address"] for a in sandbox.p2a.advocates.values()
              if a["phones"]}
    for advocate in sandbox.p2a.calls:
        out["calls"][phones.get(advocate, "?")].append(str(advocate))
    for name in ("twilio", "telesign", "p2a", "wevote", "whatcounts", "quorum"):
        left = [str(kind) for queue in sandbox.service(name).fail_next.values()
                for kind in queue]
        out["faults_left"][name] = left
    return {name: dict(rows) for name, rows in out.items()}


def create_app(delay: float) -> web.Application:
    app = bench.create_app(delay)
    sandbox = app[SANDBOX]

    async def fail(request: web.Request) -> web.Response:
        order: dict[str, Any] = await request.json()
        state = sandbox.service(str(order["service"]))
        state.fail_next[str(order["route"])] = list(order["kinds"])
        if "hang_seconds" in order:
            state.hang_seconds = float(order["hang_seconds"])
        if "retry_after" in order:
            state.retry_after = order["retry_after"]
        return web.json_response({"ok": True})

    async def done(request: web.Request) -> web.Response:
        return web.json_response(effects(sandbox))

    app.router.add_post("/_faults/fail", fail)
    app.router.add_get("/_faults/effects", done)
    return app


async def serve(ports: list[int], delay: float, telesign_callback: str | None) -> None:
    app = create_app(delay)
    app[SANDBOX].telesign.reports.url = telesign_callback
    await bench.serve_app(app, ports)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.faults.sandbox")
    parser.add_argument("--ports", required=True, help="comma-separated ports")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--telesign-callback", default=None,
                        help="where TeleSign's delivery reports go (the web's status route)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve([int(p) for p in args.ports.split(",")], args.delay,
                          args.telesign_callback))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
