"""Headless Chromium (Debian's /usr/bin/chromium via Playwright) walks the verification page end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium_page
from tests.sandbox.helpers import Receiver, check, init_params, v3_request
from tools.sandbox import SandboxServer

pytestmark = pytest.mark.browser


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_page() as page:
        yield page


def test_browser_fails_with_subcode_then_lands_on_return_url_and_callback_arrives(
    sandbox: SandboxServer, receiver: Receiver, page: Any
) -> None:
    answer = v3_request(
        sandbox,
        "Initialize",
        init_params(
            DocType="00000008",
            ReturnUrl=f"{receiver.base_url}/merchant/return",
            CallbackUrl=f"{receiver.base_url}/cb?shop=1",
            CallbackToken="browser-token",
        ),
    )
    result = answer.body["Result"]
    page.goto(result["TransactionUrl"])
    assert page.locator('[data-field="englishName"]').inner_text() == "TEST SAMPLE"
    assert page.locator("#sub-code").is_hidden()
    page.click("#outcome-fail")
    assert page.locator("#sub-code").is_visible()
    page.fill("#sub-code", "209")
    with page.expect_navigation():
        page.click("#finish")
    assert page.url == f"{receiver.base_url}/merchant/return"
    assert page.locator("#merchant-return").is_visible()

    (callback,) = receiver.wait_for("/cb")
    assert callback.query == {
        "shop": "1",
        "transactionId": result["TransactionId"],
        "passed": "N",
        "subCode": "209",
        "callbackToken": "browser-token",
    }
    assert check(sandbox, result["TransactionId"]).body["Result"]["SubCode"] == "209"


def test_browser_second_visit_of_transaction_url_shows_expired(sandbox: SandboxServer, page: Any) -> None:
    url = v3_request(sandbox, "Initialize", init_params()).body["Result"]["TransactionUrl"]
    page.goto(url)
    assert page.locator("#finish").is_visible()
    page.goto(url)
    assert page.locator("#expired").is_visible()
