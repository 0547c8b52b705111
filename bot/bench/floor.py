"""The floor: the least any durable SMS webhook must do, and nothing more.

The bare app (`bench.bare`) measures aiohttp; this one adds what no webhook worth running
can skip: Twilio's signature check (the bot's own function) and one Lua script through the
same redis-py pool the bot uses, which marks the message id as seen (a retry is a no-op),
writes the phone's state and appends the reply to an outbox stream, atomically. No engine,
no flow, no worker. bot / floor is what the bot's own machinery costs.

`python -m bot.bench.floor --port N` (with `REDIS_URL`) serves it like `python -m bot serve`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import AsyncIterator

from aiohttp import web
from redis.commands.core import AsyncScript

from bot.config import Settings
from bot.redis_conn import connect_redis, warm_up
from bot.store import Keys
from webhooks.common import SignatureError
from webhooks.twilio import EMPTY_TWIML, check_signature

#: KEYS: seen mark, state, outbox. ARGV: seen ttl, state, state ttl, outbox entry.
FLOOR_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('XADD', KEYS[3], '*', 'e', ARGV[4])
return 1
"""

SCRIPT = web.AppKey("floor_script", AsyncScript)
SEEN_TTL = 3 * 24 * 3600
STATE_TTL = 30 * 24 * 3600
KEYS = Keys(prefix="floor")


def create_app(settings: Settings, token: str) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        client = await connect_redis(settings)
        await warm_up(client)
        app[SCRIPT] = client.register_script(FLOOR_SCRIPT)
        yield
        await client.aclose()

    app.cleanup_ctx.append(redis_ctx)

    async def inbound_sms(request: web.Request) -> web.Response:
        form = await request.post()
        try:
            check_signature(request, form, token, None)
        except SignatureError:
            return web.Response(status=403, text="invalid signature")
        sid, phone = str(form.get("MessageSid", "")), str(form.get("From", ""))
        if not sid or not phone:
            return web.Response(status=400, text="MessageSid and From are required")
        shard = KEYS.shard(phone)
        state = json.dumps({"state": "optin", "body": str(form.get("Body", ""))[:160]})
        reply = json.dumps({"to": phone, "body": "Reply YES to get alerts."})
        await request.app[SCRIPT](keys=[KEYS.seen(phone, sid), KEYS.conversation(phone),
                                        KEYS.outbox(shard)],
                                  args=[SEEN_TTL, state, STATE_TTL, reply])
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app.router.add_post("/webhooks/twilio/sms", inbound_sms)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.floor")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(_env_file=None)  # REDIS_URL, REDIS_CLUSTER, pool settings
    token = os.environ["TWILIO_AUTH_TOKEN"]
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional, as in `python -m bot serve`

        uvloop.install()
    web.run_app(create_app(settings, token), host="127.0.0.1", port=args.port, print=None,
                access_log=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
