"""What every sandbox shares: the call log, per-service state, magic inputs, the middleware.

Request handling order, like the real services: record the call, check auth (the service's
own 401 shape), then a forced failure (`state.fail_next[route]` first, then a magic input in
the request), then the handler; the answer then waits `delay` seconds before it leaves. So a
client whose timeout is shorter than `delay` sees a timeout for a request that DID happen
(the "outcome unknown" case), while kind `timeout` hangs without doing anything, kind
`lost` does the work but answers 504 (the answer lost on its way back: "outcome unknown"
for one request, without slowing down the others), and kind `late` does the work and then
hangs like `timeout` (the request reached the server and took effect, the client times
out). A forced or magic 429 carries `Retry-After: <state.retry_after>` when that is set.

Magic inputs (the service decides which kinds it knows; unknown kinds are ignored):
- a token `__<kind>__` anywhere in the path, query or body, e.g. `__503__`, `__timeout__`;
- a phone `+1 500 555 0NNN` anywhere in the request: kind `NNN` without leading zeros
  (`5005550503` -> "503", `5005550004` -> "4"); Twilio maps its own magic numbers this way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

TOKEN = re.compile(r"__([a-z0-9-]+)__")
MAGIC_PHONE = re.compile(r"5005550(\d{3})")
PHONE_RUN = re.compile(r"[\d+][\d ().+-]{8,}\d")
TIMEOUT = "timeout"
LOST = "lost"
LATE = "late"


@dataclass(frozen=True)
class RecordedRequest:
    """One request a sandbox received, parsed for assertions."""

    service: str
    method: str
    path: str  # from the service prefix on, e.g. "/p2a/advocates"
    route: str  # "METHOD /template" relative to the service, the key of `fail_next`
    query: dict[str, Any]
    body: Any  # JSON value, form dict (repeated keys -> list), or None
    headers: dict[str, str]


class CallLog(list[str]):
    """`["POST /p2a/advocates", ...]` in arrival order; `.requests` holds the parsed calls."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []

    def record(self, request: RecordedRequest) -> None:
        """Append one call."""
        self.append(f"{request.method} {request.path}")
        self.requests.append(request)

    def clear(self) -> None:
        """Forget every call."""
        super().clear()
        self.requests.clear()

    def last(self, service: str | None = None) -> RecordedRequest:
        """The latest call (of one service)."""
        found = [r for r in self.requests if service is None or r.service == service]
        if not found:
            raise LookupError(f"no {service or ''} call recorded")
        return found[-1]


@dataclass
class ServiceState:
    """In-memory state every sandbox has. `fail_next["POST /advocates"] = [503, 503]` makes
    the next two calls of that route fail with the service's documented 503 answer (values
    are statuses or kinds such as "timeout" or "21610")."""

    fail_next: dict[str, list[int | str]] = field(default_factory=dict)
    hang_seconds: float = 30.0  # how long a "timeout" (or "late") answer waits
    retry_after: str | None = None  # the Retry-After header of a forced or magic 429

    def take_failure(self, route: str) -> str | None:
        """Pop the next forced failure of a route."""
        queue = self.fail_next.get(route)
        return str(queue.pop(0)) if queue else None


AuthCheck = Callable[[web.Request, bytes], web.Response | None]
Failure = Callable[[web.Request, str], web.Response | None]


def relative(path: str, service: str) -> str:
    """`/sandbox/p2a/advocates` -> `/p2a/advocates` (drop any mount prefix)."""
    index = path.find(f"/{service}/")
    return path[index:] if index >= 0 else path


def parse_body(request: web.Request, raw: bytes) -> Any:
    """JSON, or a form (repeated keys become lists), or None."""
    if not raw:
        return None
    if request.content_type == "application/json":
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")
    return multi(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def multi(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Pairs to a dict; a repeated key keeps all its values in a list."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    return out


def magic_kinds(text: str) -> list[str]:
    """Every magic kind in a request's text, tokens first."""
    kinds = TOKEN.findall(text)
    for run in PHONE_RUN.findall(text):
        kinds += [str(int(n)) for n in MAGIC_PHONE.findall(re.sub(r"\D", "", run))]
    return kinds


def basic_auth(request: web.Request) -> tuple[str, str] | None:
    """The (user, password) of a Basic Authorization header, or None."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def middleware(
    service: str,
    state: ServiceState,
    *,
    log: CallLog,
    delay: float,
    check_auth: AuthCheck,
    fail: Failure,
) -> Middleware:
    """Build the sandbox middleware of one service (see the module docstring)."""

    @web.middleware
    async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record, answer, then hold the answer `delay` seconds."""
        raw = await request.read()
        resource = request.match_info.route.resource
        template = relative(resource.canonical, service) if resource else request.path
        route = f"{request.method} {template.removeprefix('/' + service)}"
        log.record(
            RecordedRequest(
                service=service,
                method=request.method,
                path=relative(request.path, service),
                route=route,
                query=multi(list(request.query.items())),
                body=parse_body(request, raw),
                headers=dict(request.headers),
            )
        )
        answer = await respond(request, handler, raw, route)
        if delay:
            await asyncio.sleep(delay)
        return answer

    async def respond(
        request: web.Request, handler: Handler, raw: bytes, route: str
    ) -> web.StreamResponse:
        """Auth, then a forced or magic failure, then the handler."""
        denied = check_auth(request, raw)
        if denied is not None:
            return denied
        forced = state.take_failure(route)
        text = unquote_plus(request.raw_path) + "\n" + raw.decode("utf-8", "replace")
        for kind in [forced] if forced else magic_kinds(text):
            if kind == TIMEOUT:
                await asyncio.sleep(state.hang_seconds)
                return web.Response(status=504, text="sandbox: gave up")
            if kind in (LOST, LATE):
                await handler(request)
                if kind == LATE:
                    await asyncio.sleep(state.hang_seconds)
                return web.Response(status=504, text="sandbox: answer lost")
            answer = fail(request, kind)
            if answer is None and forced:
                answer = web.Response(status=int(kind) if kind.isdigit() else 500)
            if answer is not None:
                if answer.status == 429 and state.retry_after is not None:
                    answer.headers.setdefault("Retry-After", state.retry_after)
                return answer
        return await handler(request)

    return sandbox_middleware
