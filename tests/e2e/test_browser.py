"""The demo merchant page in headless Chromium (Debian's /usr/bin/chromium via Playwright), end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium_page
from tests.e2e.support import PASSPORT, MakeStack


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_page() as page:
        yield page


@pytest.mark.browser
def test_demo_page_runs_a_passing_verification_and_shows_the_masked_result(make_stack: MakeStack, page: Any) -> None:
    stack = make_stack(KYC_API_IDENTITY_FIELDS="surname,documentNumber")  # the view shows no identity by default
    page.goto(f"{stack.url}/")
    page.click("#sign-in")
    page.wait_for_selector("#verify:enabled")
    page.select_option("#doc-type", PASSPORT)
    with page.expect_navigation():
        page.click("#verify")
    assert page.url.startswith(f"{stack.sandbox_url}/verify/")
    surname = page.locator('[data-field="surname"]').inner_text()
    passport_no = page.locator('[data-field="passportNo"]').inner_text()

    page.check("#outcome-pass")
    with page.expect_navigation():
        page.click("#finish")

    assert page.url == f"{stack.url}/"
    page.wait_for_selector("#result[data-status=PASSED]")
    details = page.locator("#details").inner_text()
    assert f'"surname": "{surname[0]}*"' in details
    assert f'"documentNumber": "{passport_no[0]}*' in details
    assert surname not in details and passport_no not in details
    page.wait_for_function("document.getElementById('webhook-count').textContent === '1'")
    assert "✓ signature" in page.locator("#webhooks").inner_text()
    (verification,) = stack.store().list_created(status="PASSED")[0]
    assert verification.status == "PASSED"
