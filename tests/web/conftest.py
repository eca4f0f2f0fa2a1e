"""Fixtures for the browser tests: a real stack serving the built web app, and Debian's Chromium via Playwright.

The browser is /usr/bin/chromium from Debian's package (scripts/ensure_browser.sh installs it), never a browser
downloaded by a test tool. Screenshots go to $WEGENT_TEST_ARTIFACTS (default .cache/screenshots).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import model, model_server, stack_factory_module  # noqa: F401 - fixtures
from tests.support.stack import ROOT, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("WEGENT_TEST_ARTIFACTS") or ROOT / ".cache" / "screenshots")


@pytest.fixture(scope="session")
def built_app() -> Path:
    """The production build the API serves (built now when missing or older than its sources)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "build_web.sh")], check=True, timeout=600)
    index = ROOT / "api" / "web_dist" / "index.html"
    assert index.is_file(), "scripts/build_web.sh did not produce api/web_dist/index.html"
    return index.parent


@pytest.fixture(scope="module")
def web_stack(built_app: Path, stack_factory_module) -> Stack:  # type: ignore[no-untyped-def]  # noqa: F811
    return stack_factory_module(
        "local",
        WEGENT_REDIS_URL="redis://127.0.0.1:6379/0",
        WEGENT_EXECUTOR_IDLE_SECONDS="5",
        WEGENT_TASK_IDLE_SECONDS="60",
    )


@pytest.fixture(scope="module")
def browser() -> Iterator:
    # Per module, not per session: while Playwright's sync API is open it holds a running event loop in the
    # main thread, and every asyncio test collected after the browser tests would fail to start its own.
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/ensure_browser.sh (make test does)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def screenshots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def make_user(stack: Stack) -> tuple[str, str, dict[str, str]]:
    """A fresh user: (name, password, REST headers)."""
    username = f"w{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(12)
    response = stack.request(
        "POST", "/api/v1/admin/users", json={"username": username, "password": password, "role": "user"}
    )
    assert response.status_code == 201, response.text
    return username, password, stack.login(username, password)


@pytest.fixture
def user(web_stack: Stack) -> tuple[str, str, dict[str, str]]:
    """A fresh user of the module's stack: (name, password, REST headers)."""
    return make_user(web_stack)
