"""Typed keys for what the app holds (aiohttp `AppKey`s, never strings)."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from bot.config import Settings
from bot.core import Core
from bot.metrics import Metrics
from bot.runtime import Runtime

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
CORE = web.AppKey("core", Core)
METRICS = web.AppKey("metrics", Metrics)
RUNTIME = web.AppKey("runtime", Runtime)  # every resource, for tests and the chat
