"""Broadcasts: an alert (a flow, or one state of it) sent to every subscriber of a segment.

`segments` says who is in a segment, `store` keeps each broadcast in Redis, `plan` decides
per recipient (send, skip, or wait out quiet hours), `runner` sends them at the carrier's
pace, resumably, and `cli` is `python -m bot broadcast`.
"""

from bot.broadcast.runner import BroadcastRunner
from bot.broadcast.segments import Segment, SegmentError
from bot.broadcast.store import Broadcast, BroadcastStore, Status

__all__ = ["Broadcast", "BroadcastRunner", "BroadcastStore", "Segment", "SegmentError",
           "Status"]
