"""The TeleSign sandbox's delivery reports: as TeleSign posts one to the account's callback
URL for each message (REFERENCE 5.8), signed over the body alone
(`TSA {customer_id}:base64(HMAC-SHA256(base64_decode(api_key), body))`) and carrying the
`external_id` the sender gave. The sandbox delivers at once, so the report follows the send
within milliseconds; it tries `ATTEMPTS` times, as TeleSign retries a report that got no 200.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from email.utils import formatdate
from typing import Any

import aiohttp

from bot.sandbox import credentials as cred

ATTEMPTS = 3
PAUSE = 0.5  # seconds between two attempts
TIMEOUT = aiohttp.ClientTimeout(total=5)


def report_body(message: dict[str, str]) -> bytes:
    """The delivery report of a message the sandbox accepted (delivered to the handset)."""
    now = formatdate(usegmt=True)
    body: dict[str, Any] = {
        "reference_id": message["reference_id"], "sub_resource": "sms", "errors": [],
        "status": {"code": 200, "description": "Delivered to handset", "updated_on": now},
        "submit_timestamp": now, "external_id": message.get("external_id"),
    }  # fmt: skip
    return json.dumps(body).encode()


def authorization(body: bytes) -> str:
    """The sandbox account's signature on a callback body."""
    digest = hmac.new(base64.b64decode(cred.TELESIGN_API_KEY), body, hashlib.sha256).digest()
    return f"TSA {cred.TELESIGN_CUSTOMER_ID}:{base64.b64encode(digest).decode('ascii')}"


class Reporter:
    """Posts reports in the background (tasks kept until done) when a URL is set."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.posted = 0  # reports answered 200
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, message: dict[str, str]) -> None:
        if self.url is None:
            return
        task = asyncio.create_task(self._post(self.url, report_body(message)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the reports under way (tests)."""
        await asyncio.gather(*self._tasks)

    async def _post(self, url: str, body: bytes) -> None:
        headers = {"Authorization": authorization(body), "Content-Type": "application/json"}
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            for _ in range(ATTEMPTS):
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        if resp.status == 200:
                            self.posted += 1
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(PAUSE)
