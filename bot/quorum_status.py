"""Quorum's delivery status: it has no status callback, so the worker process reads the
recent SendSMS rows now and then and stores each one's `current_status` on the delivery
record of the text it belongs to.

Quorum's `current_status` is an integer whose labels are not published (REFERENCE 4.3), so
it is stored as it comes (`quorum-<n>`) and not counted as delivered or failed.
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
