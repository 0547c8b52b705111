"""`python -m bot worker` says it is up once Redis answered, whatever LOG_LEVEL says (the
benchmark waits for that line before it measures the worker)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.bench.procs import PYTHON, Procs, clean_env
from bot.bench.stack import start_redis
from tests.conftest import OWN_SERVERS

pytestmark = [
    pytest.mark.integration,
    OWN_SERVERS,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def test_the_worker_prints_one_line_when_it_is_up_even_at_warning(tmp_path: Path) -> None:
    procs = Procs(tmp_path)
    try:
        redis = start_redis(procs, None, None)  # private, on a free port
        env = clean_env(REDIS_URL=redis.url, LOG_LEVEL="WARNING")
        worker = procs.start("worker", [PYTHON, "-m", "bot", "worker"], env, None)
        worker.wait_line("civictext worker", timeout=60)
        line = next(text for text in worker.log_path.read_text().splitlines()
                    if text.startswith("civictext worker"))
        assert "flows: advocacy" in line and "redis: server" in line and "shards: 48" in line
        assert worker.alive()
    finally:
        procs.close()
