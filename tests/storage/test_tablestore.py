"""TablestoreTransactionStore at the SDK boundary: the exact requests built and the SDK's errors mapped."""

from __future__ import annotations

from typing import Any

import pytest
import tablestore

from shared.storage import RecordExists, StorageError, TablestoreTransactionStore
from shared.storage.tablestore_store import INSTANCE_ACL_DENIED

from .conftest import make_record
from .fake_ots import FakeOTSClient, describe_condition

EQ = tablestore.ComparatorType.EQUAL
FINAL: dict[str, Any] = {
    "status": "FAILED",
    "passed": "N",
    "sub_code": "205",
    "result_key": None,
    "identity_masked": None,
    "result_version": 7,
    "now": 50.0,
}


def _store(fake: FakeOTSClient) -> TablestoreTransactionStore:
    return TablestoreTransactionStore(table="kyc_tx", client=fake)


def test_create_puts_row_expecting_it_not_to_exist(fake_ots: FakeOTSClient) -> None:
    record = make_record()
    _store(fake_ots).create(record)
    (table, row, condition), _ = fake_ots.calls_named("put_row")[0]
    assert table == "kyc_tx"
    assert row.primary_key == [("merchant_biz_id", record.merchant_biz_id)]
    assert describe_condition(condition) == ("Condition", tablestore.RowExistenceExpectation.EXPECT_NOT_EXIST, None)
    assert ("status", "PENDING") in row.attribute_columns


def test_create_maps_condition_check_fail_to_record_exists(fake_ots: FakeOTSClient) -> None:
    fake_ots.fail_with = tablestore.OTSServiceError(403, "OTSConditionCheckFail", "Condition check failed.")
    with pytest.raises(RecordExists):
        _store(fake_ots).create(make_record())


def test_finalize_writes_once_conditional_on_an_existing_pending_row(fake_ots: FakeOTSClient) -> None:
    record = make_record()
    store = _store(fake_ots)
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    ((_, row, condition), _), = fake_ots.calls_named("update_row")
    assert describe_condition(condition) == (
        "Condition", tablestore.RowExistenceExpectation.EXPECT_EXIST, ("Single", "status", "PENDING", EQ, False)
    )
    assert ("status", "FAILED") in row.attribute_columns["put"]
    removed = {"result_key", "identity_masked", "face", "notified_at", "next_check_at", "error"}
    assert set(row.attribute_columns["delete_all"]) == removed


def test_mark_abandoned_condition_is_status_pending(fake_ots: FakeOTSClient) -> None:
    record = make_record()
    store = _store(fake_ots)
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, 9.0) is True
    (_, _, condition), _ = fake_ots.calls_named("update_row")[0]
    assert describe_condition(condition) == (
        "Condition",
        tablestore.RowExistenceExpectation.EXPECT_EXIST,
        ("Single", "status", "PENDING", EQ, False),
    )


def test_record_check_condition_pins_status_and_read_count(fake_ots: FakeOTSClient) -> None:
    record = make_record(check_count=3)
    store = _store(fake_ots)
    store.create(record)
    store.record_check(record.merchant_biz_id, now=5.0, next_check_at=10.0)
    (_, row, condition), _ = fake_ots.calls_named("update_row")[0]
    assert describe_condition(condition)[2] == (
        "Composite",
        tablestore.LogicalOperator.AND,
        [("Single", "status", "PENDING", EQ, False), ("Single", "check_count", 3, EQ, False)],
    )
    assert ("check_count", 4) in row.attribute_columns["put"]


def test_record_check_retries_after_a_concurrent_bump(fake_ots: FakeOTSClient) -> None:
    record = make_record()
    store = _store(fake_ots)
    store.create(record)
    original_get = fake_ots.get_row
    bumped: list[bool] = []

    def racing_get_row(*args: object, **kwargs: object) -> object:
        result = original_get(*args, **kwargs)  # type: ignore[arg-type]
        if not bumped:  # another instance bumps the count between our read and our write
            bumped.append(True)
            fake_ots.rows[record.merchant_biz_id]["check_count"] = 1
        return result

    fake_ots.get_row = racing_get_row  # type: ignore[method-assign]
    store.record_check(record.merchant_biz_id, now=5.0, next_check_at=10.0)
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.check_count == 2
    assert len(fake_ots.calls_named("update_row")) == 2


def test_record_check_of_a_re_check_another_writer_recorded_meanwhile_writes_nothing(fake_ots: FakeOTSClient) -> None:
    record = make_record()
    store = _store(fake_ots)
    store.create(record)
    original_get = fake_ots.get_row
    raced: list[bool] = []

    def racing_get_row(*args: object, **kwargs: object) -> object:
        result = original_get(*args, **kwargs)  # type: ignore[arg-type]
        if not raced:  # another fetch of the same step records re-check 1 between our read and our write
            raced.append(True)
            fake_ots.rows[record.merchant_biz_id].update(check_count=1, recheck_attempt=1)
        return result

    fake_ots.get_row = racing_get_row  # type: ignore[method-assign]
    assert store.record_check(record.merchant_biz_id, now=5.0, next_check_at=10.0, recheck_attempt=1) is False
    assert len(fake_ots.calls_named("update_row")) == 1  # the one the count condition refused; none after it
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.check_count, got.recheck_attempt) == (1, 1)


def test_notification_flag_expects_row_with_the_notified_status(fake_ots: FakeOTSClient) -> None:
    _store(fake_ots).mark_notification_enqueued("ghost", "PASSED", vendor_copy_pending=False)
    (_, row, condition), _ = fake_ots.calls_named("update_row")[0]
    assert describe_condition(condition) == (
        "Condition",
        tablestore.RowExistenceExpectation.EXPECT_EXIST,
        ("Single", "status", "PASSED", tablestore.ComparatorType.EQUAL, False),
    )
    assert row.attribute_columns == {"put": [("notification_enqueued", True)], "delete_all": ["due_kind", "due_ms"]}


def test_notification_flag_keeps_the_due_while_a_vendor_copy_deletion_follows(fake_ots: FakeOTSClient) -> None:
    record = make_record()
    store = _store(fake_ots)
    store.create(record)
    store.finalize(record.merchant_biz_id, **{**FINAL, "status": "PASSED", "passed": "Y"})
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED")  # one write, the flag alone
    (_, row, _), _ = fake_ots.calls_named("update_row")[1]
    assert row.attribute_columns == {"put": [("notification_enqueued", True)]}
    assert fake_ots.rows[record.merchant_biz_id]["due_kind"] == "outbox"


def test_create_writes_the_index_columns_of_a_new_row(fake_ots: FakeOTSClient) -> None:
    record = make_record(created_at=1234.5678)
    _store(fake_ots).create(record)
    (_, row, _), _ = fake_ots.calls_named("put_row")[0]
    columns = dict(row.attribute_columns)
    assert (columns["created_ms"], columns["due_kind"], columns["due_ms"]) == (1234567, "new", 1234567)


def test_server_busy_becomes_transient_storage_error_without_details(fake_ots: FakeOTSClient) -> None:
    record = make_record()
    fake_ots.fail_with = tablestore.OTSServiceError(503, "OTSServerBusy", f"busy for {record.merchant_biz_id}", "r9")
    with pytest.raises(StorageError) as info:
        _store(fake_ots).get(record.merchant_biz_id)
    assert info.value.transient is True and info.value.code == "OTSServerBusy" and info.value.request_id == "r9"
    assert record.merchant_biz_id not in str(info.value)


def test_permission_error_is_not_transient(fake_ots: FakeOTSClient) -> None:
    fake_ots.fail_with = tablestore.OTSServiceError(403, "OTSAuthFailed", "denied")
    with pytest.raises(StorageError) as info:
        _store(fake_ots).finalize("abc", **FINAL)
    assert info.value.transient is False and info.value.status == 403


def test_a_refusal_by_the_instance_s_network_acl_has_its_own_code(fake_ots: FakeOTSClient) -> None:
    """The vendor's OTSAuthFailed also means wrong keys; this answer's fix is the instance's network ACL."""
    fake_ots.fail_with = tablestore.OTSServiceError(403, "OTSAuthFailed", "Request denied by instance ACL policies.")
    with pytest.raises(StorageError) as info:
        _store(fake_ots).get("abc")
    assert (info.value.code, info.value.transient) == (INSTANCE_ACL_DENIED, False)


def test_the_network_acl_refusal_is_recognised_whatever_its_case(fake_ots: FakeOTSClient) -> None:
    fake_ots.fail_with = tablestore.OTSServiceError(403, "OTSAuthFailed", "request denied by instance acl policies")
    with pytest.raises(StorageError) as info:
        _store(fake_ots).get("abc")
    assert info.value.code == INSTANCE_ACL_DENIED


def test_other_auth_failures_keep_the_vendor_s_code(fake_ots: FakeOTSClient) -> None:
    fake_ots.fail_with = tablestore.OTSServiceError(403, "OTSAuthFailed", "Signature mismatch.")
    with pytest.raises(StorageError) as info:
        _store(fake_ots).get("abc")
    assert info.value.code == "OTSAuthFailed"


def test_transport_error_is_transient_and_maybe_sent(fake_ots: FakeOTSClient) -> None:
    fake_ots.fail_with = ConnectionResetError("reset")
    with pytest.raises(StorageError) as info:
        _store(fake_ots).finalize("abc", **FINAL)
    assert info.value.transient is True and info.value.maybe_sent is True


def test_real_client_is_built_with_the_deadline_transport_bounded_retries_and_the_sts_token() -> None:
    from shared.signing import Credentials
    from shared.storage.tablestore_store import BoundedRetry
    from shared.storage.tablestore_transport import DeadlineTransport

    store = TablestoreTransactionStore(
        table="t",
        endpoint="http://127.0.0.1:9",
        instance="inst",
        credentials=Credentials("AKID", "SECRET", "STS"),
        timeout=3.5,
    )
    client = store._client
    assert isinstance(client, tablestore.OTSClient)
    assert isinstance(client.connection, DeadlineTransport)  # every exchange under the call's deadline
    assert (client.connection.pool.connect_timeout, client.connection.pool.read_timeout) == (3.0, 3.5)
    assert client.connection.deadline.seconds == 3.0 + 3.0 + 3.5  # retry window + connect + read
    assert isinstance(client.retry_policy, BoundedRetry)
    assert client.credentials_provider.get_credentials().get_security_token() == "STS"
