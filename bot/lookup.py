"""Did a send whose outcome was unclear reach the provider? The lookups of docs/upstream.md.

True: it is there (never send again). False: confirmed absent (safe to send again). None:
cannot tell (the provider has no lookup for it, or the page does not cover the window).
Twilio: the messages to that phone; Quorum: its recent SendSMS rows for the phone's
supporter; TeleSign: only through its delivery report. TeleSign cannot be searched (no
listing, no lookup by phone or by our `external_id`) and an unanswered send never gave us
its `reference_id`; but the report TeleSign posts us names our `external_id` (the effect
id) and the `reference_id` (`bot.store.delivery.ExternalIds`), and with that
`GET /v1/messaging/{reference_id}` reads the transaction. So a TeleSign send is found
(True) once its report came, and never proven absent (None) before: it is dead-lettered
marked unknown, and `python -m bot dead replay` looks again later.

Phone2Action: `call_started` reads every page of the campaign's connections list for a CALL
connection of the advocate. Found: the phone rang (never call again). An empty list proves
absence only once P2A has had `P2A_LISTED_WITHIN` seconds to list the call (REFERENCE: an
empty answer right after an unclear `POST /connections` is not proof); before that, or when
the list cannot be read whole, it cannot tell. The worker's own lookup right after the
unclear call (`bot.actions.p2a_call`) therefore never treats "not listed" as absent; a
staff replay (`bot.dead`) comes later and may.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from bot.upstream import QuorumClient, TeleSignClient, Upstreams
from bot.upstream.errors import UpstreamError
from bot.upstream.phone2action import Phone2ActionClient
from bot.upstream.quorum import SendSms

PAGE = 50
NOT_ATTEMPTED = 500  # TeleSign `status.code` "Transaction not attempted" (REFERENCE 5.4)
TRAILING_ID = re.compile(r"(\d+)/?$")
P2A_PAGE = 100  # the most P2A's connections list gives a page (documented 25-100)
P2A_PAGES = 20  # read at most this many pages; a longer list cannot prove absence
#: How long P2A may take to list a call it started: an unlisted call younger than this
#: may still appear, so its absence is not yet proven.
P2A_LISTED_WITHIN = 300


class ExternalIds(Protocol):
    """Where a provider's delivery report told us its id for our effect id."""

    async def reference_of(self, provider: str, external_id: str) -> str | None: ...


async def sent_upstream(upstreams: Upstreams, sender: str, phone: str, body: str,
                        since: float, *, effect_id: str = "",
                        reports: ExternalIds | None = None) -> bool | None:
    """Look for `body` sent to `phone` at or after `since` (epoch seconds); TeleSign
    looks for the send of effect `effect_id` through `reports`."""
    if sender == "quorum":
        return await _sent_by_quorum(upstreams.quorum, phone, body, since)
    if sender == "telesign":
        return await _sent_by_telesign(upstreams.telesign, effect_id, reports)
    if sender != "twilio":
        return None
    messages = await upstreams.twilio.list_messages(to=phone, page_size=PAGE)
    if any(m.body == body and _when(m.date_created) >= since for m in messages):
        return True
    oldest = min((_when(m.date_created) for m in messages), default=None)
    if len(messages) >= PAGE and (oldest is None or oldest > since):
        return None  # the page ends inside the window: absence is not proven
    return False


async def _sent_by_quorum(quorum: QuorumClient, phone: str, body: str,
                          since: float) -> bool | None:
    """Quorum's recent SendSMS rows: one to this phone's supporter with this text since
    `since` is the send. Absence is proven only when the page holds every row (not full),
    or is newest first and reaches back past `since` (Quorum documents no order)."""
    supporter = await quorum.find_supporter(phone)
    if supporter is None:
        return None  # the send found one; not finding it now proves nothing
    sends = await quorum.recent_sends(limit=PAGE)
    if any(_supporter(row) == supporter and row.message_content == body
           and _iso_when(row.created) >= since for row in sends):
        return True
    if len(sends) < PAGE:
        return False
    times = [_iso_when(row.created) for row in sends]
    newest_first = all(a >= b for a, b in zip(times, times[1:], strict=False))
    return False if newest_first and times[-1] < since else None


async def _sent_by_telesign(telesign: TeleSignClient, effect_id: str,
                            reports: ExternalIds | None) -> bool | None:
    """The send of `effect_id`, once TeleSign's delivery report named it: TeleSign knows
    the transaction (and it carries our id) means sent; status 500 "Transaction not
    attempted" means it was refused before anything went out. No report yet: unknown."""
    if reports is None or not effect_id:
        return None
    reference = await reports.reference_of("telesign", effect_id)
    if reference is None:
        return None  # no report (yet): TeleSign cannot be asked by anything else
    found = await telesign.message_status(reference)
    if found is None or found.external_id not in (None, effect_id):
        return None  # expired there, or not ours: proves nothing
    return found.status.code != NOT_ATTEMPTED


async def call_started(p2a: Phone2ActionClient, advocate_id: int, campaign_id: int, *,
                       since: float, made_by: float, now: float) -> bool | None:
    """Did P2A start a call for `advocate_id` in `campaign_id` at or after `since`? The
    call was made (if at all) by `made_by`; absence is proven only when every page was read
    and `P2A_LISTED_WITHIN` seconds have passed since then. A list that cannot be read (an
    error answer, a timeout, an answer of another shape) proves nothing: None."""
    for page in range(1, P2A_PAGES + 1):
        try:
            rows = await p2a.list_connections(campaign_id, updated_since=int(since),
                                              page=page, per_page=P2A_PAGE)
        except (UpstreamError, ValueError, TypeError):  # a row of another shape too
            return None
        if any(c.advocate_id == advocate_id and c.type == "CALL"
               and (c.created_at is None or c.created_at >= since) for c in rows):
            return True  # (the list filters on `updated_at`: a call made before, updated
            # since, is not this one)
        if len(rows) < P2A_PAGE:  # the last page
            return False if now - made_by >= P2A_LISTED_WITHIN else None
    return None


def _supporter(row: SendSms) -> int | None:
    """The supporter id of a row ("/api/newsupporter/12/" or "12")."""
    found = TRAILING_ID.search(row.supporter_id or "")
    return int(found.group(1)) if found else None


def _iso_when(date: str | None) -> float:
    """Epoch seconds of an ISO-8601 time (a naive one is UTC); 0 when unreadable."""
    if not date:
        return 0.0
    try:
        parsed = datetime.fromisoformat(date)
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _when(date: str | None) -> float:
    if not date:
        return 0.0
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return 0.0
