"""`python -m bot chat`: be one phone in this terminal, through the real path end to end.

Each line typed is posted as a Twilio webhook to the bot served on a free local port, so it
goes through the same webhook handler, engine, store, worker, sandboxes and send guard as a
real text; the bot's texts to this phone are printed as they are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import uuid
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.embedded import create_embedded_app
from bot.flow import FlowSet
from bot.phone import to_e164
from bot.runtime import Runtime, open_runtime
from bot.sandbox import MOUNTED, Sandbox
from webhooks.keys import RUNTIME
from webhooks.twilio import compute_signature

MAX_WAIT_SECONDS = 15.0


@dataclass
class ChatSender:
    """Prints the bot's texts to this terminal."""

    phone: str
    name: str = "chat"

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        who = "" if phone == self.phone else f" (to {phone})"
        print(f"bot{who}> {body}", flush=True)
        return f"chat-{idempotency_key}"


async def run_chat(settings: Settings, phone_raw: str) -> int:
    """Serve the bot on a free port and relay terminal lines to it as texts."""
    phone = to_e164(phone_raw, settings.default_region)
    if phone is None:
        print(f"{phone_raw!r} is not a valid phone number", file=sys.stderr)
        return 2
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings.model_copy(update={"port": port})
    sender = ChatSender(phone)
    app = create_embedded_app(settings, runtime_factory=lambda s: open_runtime(s, sender=sender))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    starts = ", ".join(starting_words(app[RUNTIME].core.flows)) or "a keyword"
    print(f"You are {phone}. Type a text ({starts} to start, HELP, STOP); Ctrl-D to leave.",
          flush=True)
    try:
        async with aiohttp.ClientSession() as http:
            await _relay(http, settings, app[RUNTIME], phone, port, app.get(MOUNTED))
    finally:
        await runner.cleanup()
    return 0


def starting_words(flows: FlowSet, limit: int = 6) -> list[str]:
    """The trigger keywords of the flows loaded (FLOW_PATH), as a voter would type them."""
    words = [word.upper() for word in flows.keywords]
    return words[:limit] + ([f"... ({len(words) - limit} more)"] if len(words) > limit else [])


async def _relay(http: aiohttp.ClientSession, settings: Settings, runtime: Runtime,
                 phone: str, port: int, sandbox: Sandbox | None) -> None:
    loop = asyncio.get_running_loop()
    path = "/webhooks/twilio/sms"
    while True:
        if sys.stdin.isatty():
            print("you> ", end="", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        text = line.rstrip("\n")
        if not sys.stdin.isatty():
            print(f"you> {text}", flush=True)
        form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone,
                "To": settings.sms_from or "+15555550199", "Body": text}
        headers = {}
        url = f"http://127.0.0.1:{port}{path}"
        if settings.twilio_auth_token is not None:
            signed = (settings.public_base_url.rstrip("/") + path
                      if settings.public_base_url else url)
            headers["X-Twilio-Signature"] = compute_signature(
                settings.twilio_auth_token.get_secret_value(), signed, form.items())
        async with http.post(url, data=form, headers=headers) as resp:
            if resp.status != 200:
                print(f"(the webhook answered {resp.status}: {await resp.text()})", flush=True)
        await _settle(runtime)
        if sandbox is not None:
            _show_sandbox_codes(sandbox, phone)


_shown: dict[str, str] = {}


def _show_sandbox_codes(sandbox: Sandbox, phone: str) -> None:
    """Codes a sandboxed TeleSign or WeVote "texted" this phone: a real phone would see them,
    in the template language the bot asked TeleSign for (WeVote's template is English)."""
    digits = phone.lstrip("+")
    for service, code, lang in (
            ("TeleSign", sandbox.telesign.last_code.get(digits),
             sandbox.telesign.last_language.get(digits, "")),
            ("WeVote", sandbox.wevote.last_code.get(phone), "")):
        if code and _shown.get(service) != code:
            _shown[service] = code
            text = CODE_TEXT_BY_LANGUAGE.get(lang[:2], CODE_TEXT_BY_LANGUAGE[""])
            print(f"sms from {service} (sandbox)> {text.format(code=code)}", flush=True)


#: What the sandbox's "predefined template" says, by the `language` asked for.
CODE_TEXT_BY_LANGUAGE = {"": "Your verification code is {code}",
                         "en": "Your verification code is {code}",
                         "es": "Su codigo de verificacion es {code}"}


async def _settle(runtime: Runtime) -> None:
    """Wait until every effect of the last text has run (bounded): its replies are printed."""
    with contextlib.suppress(TimeoutError):
        await runtime.settle(timeout=MAX_WAIT_SECONDS)
