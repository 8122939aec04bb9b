"""One Status enum: members are their strings everywhere a status leaves the process (JSON, columns, logs)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shared import jsonutil
from shared.log import get_logger
from shared.notifications import EVENT_TYPES
from shared.status import FINALIZABLE, TERMINAL, VERDICTS, Status, verdict
from shared.storage import SqliteTransactionStore, TablestoreTransactionStore, TransactionRecord
from tests.storage.fake_ots import FakeOTSClient


@pytest.mark.parametrize("status", list(Status))
def test_a_member_is_its_string(status: Status) -> None:
    text = status.name
    assert status == text and hash(status) == hash(text) and Status(text) is status
    assert str(status) == f"{status}" == f"{status}" == text and type(str(status)) is str
    assert jsonutil.dumps({"status": status}) == jsonutil.dumps({"status": text})
    assert text in {s.value for s in Status} and status in {text}


def test_the_sets_are_the_lifecycle() -> None:
    assert set(VERDICTS) < set(TERMINAL) and Status.ABANDONED in TERMINAL and Status.PENDING not in TERMINAL
    assert set(FINALIZABLE) == {Status.PENDING, Status.ABANDONED}
    assert set(EVENT_TYPES) == set(TERMINAL)  # every terminal status is announced, nothing else
    assert [s.is_verdict for s in TERMINAL] == [True, True, False]


def test_a_member_formatted_with_a_spec_is_its_string_formatted_so() -> None:
    assert f"{Status.PASSED:>8}|{Status.FAILED:<8}|" == "  PASSED|FAILED  |"


@pytest.mark.parametrize("status", list(Status))
def test_finalize_takes_a_verdict_and_nothing_else(status: Status) -> None:
    """An abandonment or an erasure is no verdict: ``finalize`` writing one would make it final for good."""
    if status in VERDICTS:
        assert verdict(status.value) is status
    else:
        with pytest.raises(ValueError, match="PASSED or FAILED"):
            verdict(status.value)


def _record(status: str | Status) -> TransactionRecord:
    return TransactionRecord(merchant_biz_id="abc123", transaction_id="t1", merchant_user_id="u", doc_type="01000000",
                             status=status)  # type: ignore[arg-type]


def test_a_record_holds_members_whatever_it_was_given() -> None:
    assert _record("PASSED").status is Status.PASSED and _record(Status.PASSED) == _record("PASSED")
    assert _record("PASSED").to_item()["status"] == "PASSED" and type(_record("PASSED").to_item()["status"]) is str


def test_sqlite_column_holds_the_plain_text(tmp_path: Path) -> None:
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    store.create(_record(Status.PENDING))
    store.finalize("abc123", status=Status.PASSED, passed="Y", sub_code="200", result_key=None, identity_masked=None,
                   result_version=1, now=1.0)
    store.close()
    with sqlite3.connect(tmp_path / "kyc.sqlite3") as db:
        assert db.execute("SELECT status, typeof(status) FROM transactions").fetchall() == [("PASSED", "text")]


def test_tablestore_columns_and_conditions_get_plain_strings() -> None:
    fake = FakeOTSClient()
    store = TablestoreTransactionStore(table="t", client=fake)
    store.create(_record(Status.PENDING))
    store.mark_abandoned("abc123", now=1.0)
    assert type(fake.rows["abc123"]["status"]) is str and fake.rows["abc123"]["status"] == "ABANDONED"
    store.mark_notification_enqueued("abc123", Status.ABANDONED)
    assert fake.rows["abc123"]["notification_enqueued"] is True


def test_a_logged_status_is_its_string(capsys: pytest.CaptureFixture[str]) -> None:
    get_logger("kyc.test_status").warning("status.logged", extra={"status": Status.ABANDONED})
    line = jsonutil.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["status"] == "ABANDONED"
