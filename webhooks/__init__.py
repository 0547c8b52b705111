"""The aiohttp app: one module per SMS provider, plus health and metrics."""
