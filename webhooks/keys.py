"""Typed keys for what the app holds (aiohttp `AppKey`s, never strings)."""

from __future__ import annotations

from aiohttp import web

from bot.config import Settings
from bot.core import Core
from bot.metrics import Metrics
from bot.redis_conn import RedisClient
from bot.runtime import Runtime

SETTINGS = web.AppKey("settings", Settings)
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
CORE = web.AppKey("core", Core)
METRICS = web.AppKey("metrics", Metrics)
RUNTIME = web.AppKey("runtime", Runtime)  # every resource, for tests and the chat
