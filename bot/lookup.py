"""Did a send whose outcome was unclear reach the provider? The lookups of docs/upstream.md.

True: it is there (never send again). False: confirmed absent (safe to send again). None:
cannot tell (the provider has no lookup for it, or the page does not cover the window).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from bot.upstream import Upstreams

PAGE = 50


async def sent_upstream(upstreams: Upstreams, sender: str, phone: str, body: str,
                        since: float) -> bool | None:
    """Look for `body` sent to `phone` at or after `since` (epoch seconds)."""
    if sender != "twilio":
        return None  # TeleSign: no lookup without its reference id; Quorum: by hand
    messages = await upstreams.twilio.list_messages(to=phone, page_size=PAGE)
    if any(m.body == body and _when(m.date_created) >= since for m in messages):
        return True
    oldest = min((_when(m.date_created) for m in messages), default=None)
    if len(messages) >= PAGE and (oldest is None or oldest > since):
        return None  # the page ends inside the window: absence is not proven
    return False


def _when(date: str | None) -> float:
    if not date:
        return 0.0
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return 0.0
