"""Quorum's delivery status: it has no status callback, so the worker process reads the
recent SendSMS rows now and then and stores each one's `current_status` on the delivery
record of the text it belongs to.

Quorum's `current_status` is an integer whose labels are not in the contract: REFERENCE 4.3
and the stored Send SMS page point to an enumeration file ("Quorum_API_Enumeration_Values.csv",
TextDeliveryStatus) that is not published. So it is stored as it comes (`quorum-<n>`),
never counted as delivered or failed, and shown to staff as "unknown status n" (texts per
status, `bot.store.delivery`). The row's `delivered_event`/`failed_event`/... objects are
not read either: their contents are not documented (the sample shows `{}`).
"""

from __future__ import annotations

import asyncio

import structlog

from bot.clock import Clock
from bot.store.delivery import DeliveryLedger
from bot.upstream.quorum import QuorumClient

log = structlog.get_logger("bot.quorum_status")

EVERY_SECONDS = 60.0
ROWS = 100  # the newest SendSMS rows read each time


async def poll_once(client: QuorumClient, ledger: DeliveryLedger, clock: Clock) -> int:
    """Store the current status of the newest sends this bot recorded; how many."""
    stored = 0
    for row in await client.recent_sends(limit=ROWS):
        if row.current_status is None:
            continue
        if await ledger.get("quorum", str(row.id)) is None:
            continue  # not a text this bot sent (or its record expired)
        await ledger.status("quorum", str(row.id), f"quorum-{row.current_status}", "",
                            clock.now())
        stored += 1
    return stored


async def poll_forever(client: QuorumClient, ledger: DeliveryLedger, clock: Clock,
                       every: float = EVERY_SECONDS) -> None:
    """`poll_once` every `every` seconds until cancelled; a failed read is logged."""
    while True:
        try:
            async with asyncio.timeout(30):
                await poll_once(client, ledger, clock)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next poll tries again
            log.warning("quorum status poll failed", error=repr(exc)[:200])
        await asyncio.sleep(every)
