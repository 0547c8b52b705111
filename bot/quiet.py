"""Quiet hours: no reminder lands at night in the voter's time zone (from the number).

Pure: the time zone comes from phonenumbers' area-code data, the shift from arithmetic.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

DEFAULT_TZ = "America/New_York"


@lru_cache(maxsize=8192)
def zone_for(e164: str) -> ZoneInfo:
    """The voter's likely time zone: from the area code (US) or country; New York if unsure."""
    try:
        number = phonenumbers.parse(e164, None)
        names = [n for n in pn_timezone.time_zones_for_number(number)
                 if "/" in n and not n.startswith("Etc/")]
    except phonenumbers.NumberParseException:
        names = []
    try:
        return ZoneInfo(names[0] if names else DEFAULT_TZ)
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def outside_quiet_hours(due: float, e164: str, start: int = 21, end: int = 8) -> float:
    """`due`, or the end of the quiet hours it falls into (start:00 to end:00 local time)."""
    zone = zone_for(e164)
    local = datetime.fromtimestamp(due, zone)
    if start <= local.hour or local.hour < end:
        morning = local.replace(hour=end, minute=0, second=0, microsecond=0)
        if local.hour >= start:
            morning += timedelta(days=1)
        return morning.timestamp()
    return due
