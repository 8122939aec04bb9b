from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.storage import TransactionRecord

from .conftest import make_record


def test_to_item_omits_none_and_encodes_identity_as_json() -> None:
    item = make_record(identity_masked={"name": "J***"}, sub_code=None).to_item()
    assert "sub_code" not in item and "finalized_at" not in item
    assert item["identity_masked"] == '{"name":"J***"}'


def test_from_item_coerces_sqlite_integers_to_bools() -> None:
    item = {**make_record().to_item(), "notification_enqueued": 1, "vendor_copy_deleted": 0}
    record = TransactionRecord.from_item(item)
    assert record.notification_enqueued is True and record.vendor_copy_deleted is False


def test_from_item_ignores_unknown_columns() -> None:
    record = make_record()
    assert TransactionRecord.from_item({**record.to_item(), "future_column": "x"}) == record


@given(
    st.sampled_from(["PENDING", "PASSED", "FAILED", "ABANDONED"]),
    st.sampled_from([None, "Y", "N", "P"]),
    st.integers(min_value=0, max_value=2**53),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
)
def test_item_round_trip(status: str, passed: str | None, version: int, identity: dict[str, str] | None) -> None:
    record = make_record(status=status, passed=passed, result_version=version, identity_masked=identity)
    assert TransactionRecord.from_item(record.to_item()) == record


@pytest.mark.parametrize("biz_id", ["", "x" * 33, "has space", "semi;colon"])
def test_invalid_merchant_biz_id_is_rejected(biz_id: str) -> None:
    with pytest.raises(ValueError):
        make_record(merchant_biz_id=biz_id)


def test_unknown_status_is_rejected() -> None:
    with pytest.raises(ValueError):
        make_record(status="DONE")


def test_is_final_only_for_vendor_results() -> None:
    assert [make_record(status=s).is_final for s in ("PENDING", "ABANDONED", "PASSED", "FAILED")] == [
        False,
        False,
        True,
        True,
    ]
