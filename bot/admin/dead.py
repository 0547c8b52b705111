"""Console dead letters: effects the worker gave up on; replay one or drop it, through the
same `bot.dead.DeadLetters` as `python -m bot dead` (an unclear send is looked up at the
provider before it is queued again)."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web

from bot.admin.console import CONSOLE, STAFF, Handler
from bot.dead import DeadLetters

log = structlog.get_logger("bot.admin")
LIMIT = 200


def _letters(request: web.Request) -> DeadLetters:
    rt = request.app[CONSOLE].runtime(request)
    return DeadLetters(rt.redis, rt.keys, rt.upstreams, sender=rt.settings.sms_sender)


async def dead_page(request: web.Request, message: str = "") -> web.Response:
    letters = await _letters(request).list(LIMIT)
    return request.app[CONSOLE].page(request, "dead.html", letters=letters, message=message,
                                     limit=LIMIT)


async def act(request: web.Request) -> web.Response:
    letter_id, action = request.match_info["letter_id"], request.match_info["action"]
    letters = _letters(request)
    if action == "replay":
        text = (await letters.replay(letter_id)).value
    else:
        text = "dropped" if await letters.drop(letter_id) else "no such dead letter"
    log.info("dead letter " + action, letter=letter_id, outcome=text,
             staff=str(request[STAFF])[:8])
    return await dead_page(request, f"{letter_id}: {text}")


def setup(router: web.UrlDispatcher, staff: Callable[[Handler], Handler]) -> None:
    router.add_get("/admin/dead", staff(dead_page))
    router.add_post(r"/admin/dead/{letter_id}/{action:replay|drop}", staff(act))
