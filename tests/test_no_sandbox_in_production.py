"""Production code does not import the sandboxes: only the embedded default mounts them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import SERVICES, Settings
from bot.embedded import create_embedded_app, needs_sandbox
from bot.sandbox import MOUNTED
from tests.apphelpers import with_sandbox
from tests.conftest import make_settings


def _sandbox_modules_after(statement: str) -> list[str]:
    """The `bot.sandbox*` modules a fresh interpreter holds after `statement`."""
    probe = (f"{statement}\nimport sys\n"
             "print(','.join(m for m in sys.modules if m.split('.')[:2] == ['bot', 'sandbox']))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    return [m for m in done.stdout.strip().split(",") if m]


@pytest.mark.parametrize("module", ["bot.upstream", "webhooks.app", "webhooks.keys",
                                    "bot.runtime", "bot.embedded"])
def test_importing_production_code_loads_no_sandbox(module: str) -> None:
    assert _sandbox_modules_after(f"import {module}") == []


def test_the_probe_does_see_a_sandbox_import() -> None:
    assert "bot.sandbox" in _sandbox_modules_after("import bot.sandbox")


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
