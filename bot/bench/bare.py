"""The yardstick: a bare aiohttp app that parses the same Twilio form and answers the same
empty TwiML, with nothing else (no signature check, no Redis, no engine, no worker).

`python -m bot.bench.bare --port N` serves it the way `python -m bot serve` serves the bot:
`web.run_app`, uvloop when importable, no access log.
"""

from __future__ import annotations

import argparse
import contextlib

from aiohttp import web

from webhooks.twilio import EMPTY_TWIML


async def inbound_sms(request: web.Request) -> web.Response:
    """Parse the form, read the fields the bot reads, answer `<Response/>`."""
    form = await request.post()
    if not form.get("MessageSid") or not form.get("From"):
        return web.Response(status=400, text="MessageSid and From are required")
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post("/webhooks/twilio/sms", inbound_sms)
    app.router.add_get("/readyz", healthz)
    return app


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.bare")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional, as in `python -m bot serve`

        uvloop.install()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
