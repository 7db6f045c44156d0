"""Headless Chromium for the console tests: Debian's ``/usr/bin/chromium`` driven by Playwright.

Playwright's own browser download (``playwright install``) reaches outside the package registries and is never used;
``.ci/services/chromium.sh`` installs Debian's build and Playwright drives it through ``executable_path``. Each session
gets a fresh profile directory (``launch_persistent_context``: Playwright refuses ``--user-data-dir`` in ``args``) and
flags that keep Chromium from phoning home, so a test run sends no traffic beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .common import unavailable

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # a name that resolves to loopback, as an attacker's would after DNS rebinding (tests/api/test_dns_rebinding.py)
    "--host-resolver-rules=MAP rebind.attacker.example 127.0.0.1",
]
OUTPUT_DIR = Path(__file__).resolve().parents[2] / "test-output"


def chromium_path() -> str | None:
    explicit = os.environ.get("FAULTLINE_CHROMIUM")
    for candidate in ((explicit,) if explicit else ()) + CHROMIUM_CANDIDATES:
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser_context() -> Iterator[Any]:
    """One headless Chromium (fresh profile) for the whole session; tests open their own pages from it."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        unavailable(f"python package playwright not installed: {exc}")
    executable = chromium_path()
    if executable is None:
        unavailable("chromium not installed (run .ci/services/chromium.sh)")
    profile = tempfile.mkdtemp(prefix="faultline-chromium-")
    manager = sync_playwright().start()
    try:
        try:
            context = manager.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 1440, "height": 900},
                timeout=60_000,
            )
        except PlaywrightError as exc:
            unavailable(f"chromium at {executable} did not start: {exc}")
        try:
            yield context
        finally:
            context.close()
    finally:
        manager.stop()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A fresh tab; console errors are collected on ``page.console_errors`` so tests can assert there are none."""
    tab = browser_context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.console_errors = errors  # type: ignore[attr-defined]
    try:
        yield tab
    finally:
        tab.close()


@pytest.fixture(scope="session")
def test_output_dir() -> Path:
    """``test-output/`` at the repo root (gitignored): screenshots and other artefacts a person may look at."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR
