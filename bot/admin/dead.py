"""Console dead letters: effects the worker gave up on; replay one or drop it."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web

from bot.admin.console import CONSOLE, STAFF, Handler
from bot.store.deadletters import DeadLetters

log = structlog.get_logger("bot.admin")


def _letters(request: web.Request) -> DeadLetters:
    rt = request.app[CONSOLE].runtime(request)
    return DeadLetters(rt.redis, rt.keys)


async def dead_page(request: web.Request, message: str = "") -> web.Response:
    letters = await _letters(request).list()
    return request.app[CONSOLE].page(request, "dead.html", letters=letters, message=message)


async def act(request: web.Request) -> web.Response:
    ref, action = request.match_info["ref"], request.match_info["action"]
    letters = _letters(request)
    try:
        done = await (letters.replay(ref) if action == "replay" else letters.drop(ref))
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    log.info("dead letter " + action, ref=ref, done=done, staff=str(request[STAFF])[:8])
    text = {"replay": "Replayed: the worker runs it again.", "drop": "Dropped."}[action]
    return await dead_page(request, text if done else "It was already gone.")


def setup(router: web.UrlDispatcher, staff: Callable[[Handler], Handler]) -> None:
    router.add_get("/admin/dead", staff(dead_page))
    router.add_post(r"/admin/dead/{ref}/{action:replay|drop}", staff(act))
