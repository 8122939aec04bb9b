"""TablestoreTransactionStore over HTTP against the Tablestore double: what the service's errors do to a call.

Built as in production (endpoint, instance, key: the SDK's own ``OTSClient``), so the SDK's retries, signing and
error decoding are the real ones; the double injects the service's errors (``set_faults``) and counts requests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import tablestore

from shared.signing import Credentials
from shared.storage import RecordExists, StorageError, TablestoreTransactionStore
from shared.storage.tablestore_store import MAX_RETRIES
from tools.devstack.aliyun import create_tables
from tools.doubles.tablestore import TablestoreDouble

from .conftest import make_record

TABLE = "kyc_transactions"


@pytest.fixture
def double() -> Iterator[TablestoreDouble]:
    with TablestoreDouble(access_key_id="ak-wire", access_key_secret="sk-wire", instance="kyc-ekyc") as ots:
        create_tables(ots.client(), TABLE)
        yield ots


@pytest.fixture
def store(double: TablestoreDouble, monkeypatch: pytest.MonkeyPatch) -> TablestoreTransactionStore:
    # the SDK sleeps between retries; how long is not what these tests are about
    monkeypatch.setattr(tablestore.DefaultRetryPolicy, "get_retry_delay", lambda self, *args: 0.0)
    return TablestoreTransactionStore(
        table=TABLE, endpoint=double.endpoint, instance="kyc-ekyc", credentials=Credentials("ak-wire", "sk-wire")
    )


def test_throttling_is_retried_a_bounded_number_of_times_then_reported_as_transient(
    double: TablestoreDouble, store: TablestoreTransactionStore
) -> None:
    double.set_faults({"operations": {"PutRow": {"sequence": ["OTSServerBusy"] * 25}}})

    with pytest.raises(StorageError) as caught:
        store.create(make_record())

    assert (caught.value.code, caught.value.transient) == ("OTSServerBusy", True)
    assert double.stats()["requests"]["PutRow"] == 1 + MAX_RETRIES  # the SDK's default would send 21


def test_a_short_throttling_burst_is_absorbed_by_the_retries(
    double: TablestoreDouble, store: TablestoreTransactionStore
) -> None:
    double.set_faults({"operations": {"PutRow": {"sequence": ["OTSServerBusy"] * MAX_RETRIES}}})
    record = make_record()

    store.create(record)

    assert store.get(record.merchant_biz_id) == record
    assert double.stats()["requests"]["PutRow"] == 1 + MAX_RETRIES


def test_a_failed_row_condition_is_answered_once_and_never_retried(
    double: TablestoreDouble, store: TablestoreTransactionStore
) -> None:
    record = make_record()
    store.create(record)

    with pytest.raises(RecordExists):
        store.create(make_record(merchant_biz_id=record.merchant_biz_id))

    assert double.stats()["requests"]["PutRow"] == 2


def test_a_failed_row_condition_leaves_no_log_line_of_the_sdk(
    store: TablestoreTransactionStore, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    record = make_record()
    store.create(record)
    capfd.readouterr()

    with caplog.at_level(logging.DEBUG), pytest.raises(RecordExists):
        store.create(record)

    assert capfd.readouterr() == ("", "")  # the SDK logs it as an ERROR in plain text unless told otherwise
    assert [r for r in caplog.records if "OTS" in r.getMessage()] == []


def test_a_server_error_on_a_write_is_not_retried_it_may_have_been_applied(
    double: TablestoreDouble, store: TablestoreTransactionStore
) -> None:
    record = make_record()
    store.create(record)
    double.set_faults({"operations": {"UpdateRow": {"sequence": ["OTSInternalServerError"]}}})

    with pytest.raises(StorageError) as caught:
        store.mark_vendor_copy_deleted(record.merchant_biz_id)

    assert (caught.value.code, caught.value.transient) == ("OTSInternalServerError", True)
    assert double.stats()["requests"]["UpdateRow"] == 1


def test_a_gateway_5xx_page_in_front_of_the_service_is_transient_with_its_status(
    double: TablestoreDouble, store: TablestoreTransactionStore
) -> None:
    """A load balancer's 503 has no protobuf error (the SDK raises OTSClientError): as transient as the service's."""
    record = make_record()
    store.create(record)
    double.set_faults({"operations": {"UpdateRow": {"sequence": ["foreign:503"] * (MAX_RETRIES + 1)}}})

    with pytest.raises(StorageError) as caught:
        store.mark_vendor_copy_deleted(record.merchant_biz_id)

    error = caught.value
    assert (error.code, error.transient, error.status, error.maybe_sent) == ("OTSClientError", True, 503, True)



def test_an_argument_the_sdk_refuses_before_sending_is_a_permanent_error_that_was_not_sent() -> None:
    class Refusing:
        def get_row(self, *args: object, **kwargs: object) -> None:
            raise tablestore.OTSClientError("primary_key should be list")  # the SDK's check, before any request

    with pytest.raises(StorageError) as caught:
        TablestoreTransactionStore(table=TABLE, client=Refusing()).get("biz-1")
    error = caught.value
    assert (error.code, error.transient, error.status, error.maybe_sent) == ("OTSClientError", False, None, False)
