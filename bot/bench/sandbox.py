"""The upstream sandboxes for the benchmark, with one hook: when each text reached "Twilio".

`python -m bot.bench.sandbox --ports 9001,9002 --delay 0.05` serves `create_sandbox_app()`
(the same sandboxes as `python -m bot sandbox`) on every port given, so each upstream
service can have a host:port of its own as in production (an HTTP client's per-host
connection limit then applies per service, not to all of them together). Added for the
benchmark only:

- a middleware that notes `time.monotonic()` when a Twilio send (`POST .../Messages.json`)
  arrives, with its `To`, and counts every call by service;
- `GET /_bench/sends` (those notes and counts, and apart the sends that carry a
  verification code, for the rally phase) and `POST /_bench/reset` (forget them, and the
  Twilio sandbox's message list);
- a call log that only counts, so a long run does not keep every request in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.sandbox import SANDBOX, CallLog, RecordedRequest, create_sandbox_app


class CountingLog(CallLog):
    """A call log that keeps counts, not requests."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def record(self, request: RecordedRequest) -> None:
        self.counts[f"{request.method} {request.service}"] += 1


#: The body of a text carrying a one-time code (`bot.actions.verify_common.CODE_TEXTS`).
CODE_BODY = re.compile(r"(code is|codigo es) \d")


class Hooks:
    """Arrival times of Twilio sends (all of them; and those carrying a code, again)."""

    def __init__(self) -> None:
        self.sends: list[tuple[str, float]] = []
        self.codes: list[tuple[str, float]] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/Messages.json"):
            arrived = time.monotonic()
            form = await request.post()
            to = str(form.get("To", ""))
            self.sends.append((to, arrived))
            if CODE_BODY.search(str(form.get("Body", ""))):
                self.codes.append((to, arrived))
        return await handler(request)


def create_app(delay: float) -> web.Application:
    log = CountingLog()
    hooks = Hooks()
    app = create_sandbox_app(delay=delay, log=log)
    app.middlewares.append(hooks.middleware)

    async def sends(request: web.Request) -> web.Response:
        return web.json_response({"sends": hooks.sends, "codes": hooks.codes,
                                  "calls": dict(log.counts)})

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"sends": len(hooks.sends), "codes": len(hooks.codes)})

    async def reset(request: web.Request) -> web.Response:
        hooks.sends.clear()
        hooks.codes.clear()
        log.counts.clear()
        app[SANDBOX].twilio.messages.clear()
        return web.json_response({"reset": True})

    app.router.add_get("/_bench/sends", sends)
    app.router.add_get("/_bench/count", count)
    app.router.add_post("/_bench/reset", reset)
    return app


async def serve(ports: list[int], delay: float) -> None:
    await serve_app(create_app(delay), ports)


async def serve_app(app: web.Application, ports: list[int]) -> None:
    """Serve `app` on every port of 127.0.0.1, say `ready` (the parent process waits for
    that line), and run until killed."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        for port in ports:
            await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        print("ready", flush=True)  # noqa: T201 - the parent waits for this line
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.sandbox")
    parser.add_argument("--ports", required=True, help="comma-separated ports")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional speed-up

        uvloop.install()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve([int(p) for p in args.ports.split(",")], args.delay))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
