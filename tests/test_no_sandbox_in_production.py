"""Production code does not import the sandboxes: only the embedded default mounts them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.config import SERVICES, Settings
from bot.embedded import create_embedded_app, needs_sandbox
from bot.sandbox import MOUNTED
from tests.apphelpers import with_sandbox
from tests.conftest import make_settings

PRODUCTION = ["bot.upstream", "webhooks.app", "webhooks.keys", "bot.runtime", "bot.embedded",
              "bot.worker", "bot.senders"]
PROBE = """
import importlib, json, sys
def sandboxed():
    return sorted(m for m in sys.modules if m.split(".")[:2] == ["bot", "sandbox"])
seen, fake = {}, {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    seen[name] = sandboxed()
    fake[name] = "fakeredis" in sys.modules
import bot.sandbox
seen["bot.sandbox"] = sandboxed()
from bot.config import Settings
from bot.redis_conn import make_redis
make_redis(Settings(_env_file=None, redis_url=None))
fake["embedded"] = "fakeredis" in sys.modules
print(json.dumps({"seen": seen, "fake": fake}))
"""


@pytest.mark.heavy
def test_importing_production_code_loads_no_sandbox_nor_fakeredis() -> None:
    """One fresh interpreter imports each production module in turn; none of them pulls in
    `bot.sandbox`, nor fakeredis (a fifth of a deployed start-up's imports: only the
    embedded default, with no `REDIS_URL`, loads it). The last steps show the probe does
    see each when it is loaded."""
    done = subprocess.run([sys.executable, "-c", PROBE, *PRODUCTION], capture_output=True,
                          text=True, timeout=60, check=True)
    probed = json.loads(done.stdout)
    seen, fake = probed["seen"], probed["fake"]
    assert {name: seen[name] for name in PRODUCTION} == dict.fromkeys(PRODUCTION, [])
    assert "bot.sandbox" in seen["bot.sandbox"]
    assert {name: fake[name] for name in PRODUCTION} == dict.fromkeys(PRODUCTION, False)
    assert fake["embedded"]


def test_the_embedded_default_mounts_the_sandboxes_at_sandbox_service() -> None:
    app = create_embedded_app(make_settings())
    assert MOUNTED in app
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    for service in SERVICES:
        assert any(p.startswith(f"/sandbox/{service}/") for p in paths), service


def test_a_fully_configured_server_mounts_no_sandbox() -> None:
    settings: Settings = with_sandbox(make_settings(), "http://127.0.0.1:9")
    assert not needs_sandbox(settings)
    app = create_embedded_app(settings)
    assert MOUNTED not in app
    assert not any(r.resource is not None and r.resource.canonical.startswith("/sandbox")
                   for r in app.router.routes())
