"""The demo merchant page in headless Chromium (Debian's /usr/bin/chromium via Playwright), end to end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.verifications import Verifications
from tests.browser import chromium_page
from tests.e2e.support import PASSPORT, E2EStack, MakeStack

PHONE = {"width": 390, "height": 844}
#: The view shows no identity by default (the disclosure policy); the demo's card shows what this selects.
CARD_FIELDS = "surname,documentNumber"


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_page() as page:
        yield page


def sign_in_and_open_the_vendor_page(stack: E2EStack, page: Any, *, double_click: bool = False) -> None:
    page.goto(f"{stack.url}/")
    page.click("#sign-in")
    page.wait_for_selector("#verify:enabled")
    page.select_option("#doc-type", PASSPORT)
    with page.expect_navigation():
        (page.dblclick if double_click else page.click)("#verify")
    assert page.url.startswith(f"{stack.sandbox_url}/verify/")


def finish_on_the_vendor_page(page: Any, outcome: str, **fields: str) -> None:
    page.check(f"#outcome-{outcome}")
    for selector, value in fields.items():
        page.fill(f"#{selector}", value)
    with page.expect_navigation():
        page.click("#finish")


def fits_the_width(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.browser
def test_demo_page_runs_a_passing_verification_and_shows_the_masked_identity_as_a_card(
    make_stack: MakeStack, page: Any
) -> None:
    stack = make_stack(KYC_API_IDENTITY_FIELDS=CARD_FIELDS)
    sign_in_and_open_the_vendor_page(stack, page)
    surname = page.locator('[data-field="surname"]').inner_text()
    passport_no = page.locator('[data-field="passportNo"]').inner_text()
    finish_on_the_vendor_page(page, "pass")

    assert page.url == f"{stack.url}/"
    page.wait_for_selector("#result[data-status=PASSED]")
    card = page.locator("#identity-card")
    assert card.is_visible()
    assert page.locator('#identity [data-field="surname"]').inner_text() == f"{surname[0]}*"
    assert page.locator('#identity [data-field="documentNumber"]').inner_text().startswith(passport_no[0])
    assert surname not in card.inner_text() and passport_no not in card.inner_text()
    assert page.locator("#sentence").inner_text() == "The verification passed (sub code 200)."
    page.wait_for_function("document.getElementById('webhook-count').textContent === '1'")
    row = page.locator("#webhooks tbody tr").first.inner_text()
    assert "verification.passed" in row or "PASSED" in row
    assert "✓ verified" in row
    mbid = page.locator("#mbid").inner_text()
    assert stack.row(mbid).status == "PASSED"


@pytest.mark.browser
def test_a_failure_is_told_in_a_sentence_with_the_sub_code_s_meaning(stack: E2EStack, page: Any) -> None:
    sign_in_and_open_the_vendor_page(stack, page)
    finish_on_the_vendor_page(page, "fail", **{"sub-code": "205"})
    page.wait_for_selector("#result[data-status=FAILED]")
    sentence = page.locator("#sentence").inner_text()
    assert sentence.startswith("The verification did not pass: liveness check failed")


@pytest.mark.browser
def test_a_pending_result_shows_its_progress_until_it_settles(make_stack: Any, page: Any) -> None:
    stack = make_stack(KYC_RECHECK_SCHEDULE="2,2,2,2,2,2,2,2,2,2")  # 1-2 s each (jitter), past the 4 s
    sign_in_and_open_the_vendor_page(stack, page)
    finish_on_the_vendor_page(page, "pending", **{"pending-checks": "0", "pending-seconds": "4"})
    page.wait_for_selector("#result[data-status=PENDING]")
    page.wait_for_function("/re-checked [1-9]×/.test(document.getElementById('progress').textContent)")
    assert page.locator("#pending").is_visible()
    page.wait_for_selector("#result[data-status=PASSED]", timeout=20_000)
    assert not page.locator("#pending").is_visible()


@pytest.mark.browser
def test_a_double_click_on_verify_starts_one_verification(stack: E2EStack, page: Any) -> None:
    sign_in_and_open_the_vendor_page(stack, page, double_click=True)
    assert len(stack.store().list_created(limit=10)[0]) == 1


@pytest.mark.browser
def test_verify_is_disabled_while_a_slow_start_is_under_way(
    stack: E2EStack, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review v: with a slow vendor a click during the first start could start a second verification."""
    calls: list[str] = []
    call_start = Verifications._call_start

    def slow(self: Verifications, product: Any, fields: dict[str, Any]) -> Any:
        calls.append(fields["merchant_biz_id"])
        time.sleep(2.0)
        return call_start(self, product, fields)

    monkeypatch.setattr(Verifications, "_call_start", slow)
    page.goto(f"{stack.url}/")
    page.click("#sign-in")
    page.wait_for_selector("#verify:enabled")
    page.select_option("#doc-type", PASSPORT)
    with page.expect_navigation(timeout=20_000):
        page.click("#verify")
        page.wait_for_timeout(500)
        assert page.locator("#verify").is_disabled()
        page.click("#verify", force=True)  # a disabled button sends nothing
    assert len(calls) == 1


@pytest.mark.browser
def test_verify_after_back_from_the_vendor_page_starts_a_new_verification(stack: E2EStack) -> None:
    """The vendor's page opens once; back from it through the page cache, Verify must not replay the start whose
    page was opened (found by review w: the key was kept, and the vendor said the link had expired)."""
    with chromium_page(page_cache=True) as page:
        page.goto(f"{stack.url}/")
        page.evaluate("window.beforeTheVendor = true")
        page.click("#sign-in")
        page.wait_for_selector("#verify:enabled")
        page.select_option("#doc-type", PASSPORT)
        with page.expect_navigation():
            page.click("#verify")
        first_url = page.url
        page.go_back(wait_until="commit")  # a page restored from the cache fires no load event
        page.wait_for_function("document.readyState === 'complete'")
        assert page.evaluate("window.beforeTheVendor === true")  # the same document: restored, not reloaded
        page.wait_for_selector("#verify:enabled")
        with page.expect_navigation():
            page.click("#verify")
        assert page.url != first_url and page.url.startswith(f"{stack.sandbox_url}/verify/")
    assert len(stack.store().list_created(limit=10)[0]) == 2


@pytest.mark.browser
def test_a_refusal_is_shown_as_an_error(make_stack: Any, page: Any) -> None:
    stack = make_stack(KYC_RATE_LIMIT_PER_HOUR="1")
    stack.start_verification(user="demo-user")  # the one verification this hour
    page.goto(f"{stack.url}/")
    page.click("#sign-in")
    page.wait_for_selector("#verify:enabled")
    page.click("#verify")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("RateLimited: at most 1 verifications per hour (try again in ")
    assert error.get_attribute("role") == "alert"
    assert page.evaluate("getComputedStyle(document.getElementById('error')).color") == "rgb(179, 38, 30)"


@pytest.mark.browser
def test_the_demo_page_fits_a_390_px_phone(make_stack: MakeStack, page: Any, tmp_path: Path) -> None:
    stack = make_stack(KYC_API_IDENTITY_FIELDS=CARD_FIELDS)
    page.set_viewport_size(PHONE)
    sign_in_and_open_the_vendor_page(stack, page)
    finish_on_the_vendor_page(page, "pass")
    page.wait_for_selector("#result[data-status=PASSED]")
    page.wait_for_function("document.getElementById('webhook-count').textContent === '1'")
    assert fits_the_width(page)
    for selector in ("#doc-type", "#verify", "#identity-card", "#webhooks-box"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
    page.screenshot(path=str(tmp_path / "demo-390.png"), full_page=True)
    assert (tmp_path / "demo-390.png").stat().st_size > 10_000


@pytest.mark.browser
def test_demo_webhooks_is_a_table_for_a_browser(stack: E2EStack, page: Any) -> None:
    started = stack.start_verification()
    stack.complete(started.transaction_id, "pass")
    page.goto(f"{stack.url}/demo/webhooks")
    page.wait_for_selector("#webhooks", timeout=15_000)
    row = page.locator("#webhooks tbody tr").first.inner_text()
    assert started.merchant_biz_id in row and "PASSED" in row and "✓ verified" in row


@pytest.mark.browser
def test_the_product_picker_starts_a_face_only_check_without_a_document(stack: E2EStack, page: Any) -> None:
    page.goto(f"{stack.url}/")
    page.click("#sign-in")
    page.wait_for_selector("#product-row:not([hidden])")
    page.select_option("#product", "FACE_LIVENESS_PRO")
    assert not page.locator("#doc-type").is_visible()
    with page.expect_navigation():
        page.click("#verify")
    assert page.locator("#face-only").is_visible()
    finish_on_the_vendor_page(page, "pass")
    page.wait_for_selector("#result[data-status=PASSED]")
    page.wait_for_selector("#face:not([hidden])")
    assert page.locator("#face").inner_text().startswith("Face: face check passed · no presentation attack")
    assert not page.locator("#identity-card").is_visible()
