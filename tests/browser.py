"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright (no browser download)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, and this machine has no network but loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page(timeout_ms: int = 15_000, *, page_cache: bool = False) -> Iterator[Any]:
    """A fresh page in a fresh browser. Skips only when ``./scripts/test`` found that this system cannot install
    Chromium (``BROWSER_TESTS_SKIP_REASON`` carries its reason); a missing browser otherwise fails the test.
    ``page_cache``: with the back/forward cache a browser has, which Playwright turns off by default."""
    skip_reason = os.environ.get("BROWSER_TESTS_SKIP_REASON")
    if skip_reason:
        pytest.skip(f"browser tests skipped: {skip_reason}")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/ensure-chromium (installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ignored = ["--disable-back-forward-cache"] if page_cache else None
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, ignore_default_args=ignored)
        try:
            context = browser.new_context()
            context.set_default_timeout(timeout_ms)
            yield context.new_page()
        finally:
            browser.close()
