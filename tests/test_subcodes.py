"""The one table of the vendor's sub codes, and the sentence people read for a result."""

from __future__ import annotations

import pytest

from shared.status import Status
from shared.subcodes import SUB_CODES, sub_code_meaning, sub_code_message


def test_every_row_names_its_source_and_how_sure_it_is() -> None:
    for row in SUB_CODES.values():
        assert row.source and row.confidence in {"documented", "sample", "unverified"}


def test_only_what_the_vendor_documents_is_in_the_table() -> None:
    # vendor-facts §6: 200 (documented), 205 (a liveness-failure sample), 212 (REFERENCE.md, not found): nothing else.
    assert set(SUB_CODES) == {"200", "205", "212"}
    assert SUB_CODES["212"].confidence == "unverified"


def test_a_passed_result_says_so() -> None:
    assert sub_code_message("200", Status.PASSED) == "The verification passed (sub code 200)."


def test_a_failed_liveness_says_what_failed() -> None:
    message = sub_code_message("205", Status.FAILED)
    assert message is not None
    assert message.startswith("The verification did not pass: liveness check failed")


def test_an_unverified_meaning_is_marked_unverified() -> None:
    assert "meaning unverified" in (sub_code_message("212", "FAILED") or "")


@pytest.mark.parametrize("code", ["201", "9999", "ABC"])
def test_an_unknown_code_is_called_unknown_not_guessed(code: str) -> None:
    message = sub_code_message(code, "FAILED") or ""
    assert message == (
        f"The verification did not pass. The vendor's sub code {code} is not in our table of documented codes."
    )
    assert sub_code_meaning(code) is None


def test_no_sub_code_has_no_message() -> None:
    assert sub_code_message(None, "PENDING") is None
    assert sub_code_message("", "PASSED") is None


def test_a_passed_result_with_a_code_seen_only_with_failures_is_not_given_that_meaning() -> None:
    """205's meaning comes from a sample with Passed N (another API's): next to PASSED, a merchant must not read
    "a possible presentation attack" (found by review)."""
    message = sub_code_message("205", "PASSED") or ""
    assert message == "The verification passed (sub code 205; its meaning with this verdict is not documented)."
