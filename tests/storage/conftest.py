from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.signing import Credentials
from shared.storage import SqliteTransactionStore, TablestoreTransactionStore, TransactionRecord, TransactionStore

from .fake_ots import FakeOTSClient

_ids = itertools.count(1)
TABLE = "kyc_transactions"
#: The OSS double's bucket, region and STS credentials (fixture ``server``): the OSS adapter's wire and transport tests.
BUCKET = "kyc-bucket"
REGION = "cn-hangzhou"
CREDS = Credentials("LTAI-oss-id", "oss-secret", "oss-sts-token")


@pytest.fixture
def server() -> Iterator[Any]:
    """The OSS double for ``BUCKET`` in ``REGION``, accepting ``CREDS``; listings page every 2 objects."""
    from tools.doubles.oss import OssDouble

    with OssDouble(
        access_key_id=CREDS.access_key_id,
        access_key_secret=CREDS.access_key_secret,
        security_token=CREDS.security_token,
        bucket=BUCKET,
        region=REGION,
        page_limit=2,
    ) as double:
        yield double


@contextmanager
def tablestore_double(**options: Any) -> Iterator[Any]:
    """The Tablestore double with the deployment's tables and indexes (``ensure_tables``), keys ak/sk-contract."""
    from shared.storage.tablestore_schema import ensure_tables
    from tools.doubles.tablestore import TablestoreDouble

    options.setdefault("range_row_cap", 3)
    with TablestoreDouble(access_key_id="ak-contract", access_key_secret="sk-contract", **options) as double:
        ensure_tables(double.client(), TABLE)
        yield double


def wire_store(double: Any, **options: Any) -> TablestoreTransactionStore:
    """The adapter as production builds it, against ``double``."""
    return TablestoreTransactionStore(
        table=TABLE,
        endpoint=double.endpoint,
        instance=double.instance,
        credentials=Credentials(access_key_id="ak-contract", access_key_secret="sk-contract"),
        **options,
    )


def make_record(**overrides: object) -> TransactionRecord:
    n = next(_ids)
    values: dict[str, object] = {
        "merchant_biz_id": f"biz{n:029d}",
        "transaction_id": f"hksb{n:08d}",
        "merchant_user_id": "u-hash-" + "a" * 20,
        "doc_type": "01000000",
        "scene_code": "scene1",
        "callback_token_hash": "h" * 64,
        "created_at": 1_000.0 + n,
        "updated_at": 1_000.0 + n,
    }
    values.update(overrides)
    return TransactionRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake_ots() -> FakeOTSClient:
    return FakeOTSClient(page_size=3)


@pytest.fixture(params=["sqlite", "tablestore-double"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TransactionStore]:
    """Each backend as it runs in production: SQLite, and the Tablestore adapter over the SDK against the double
    (with the deployment's tables and indexes). The SDK-level fake (``fake_ots``) has no indexes; the request
    shapes it checks are in ``test_tablestore.py``."""
    if request.param == "sqlite":
        sqlite_store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
        yield sqlite_store
        sqlite_store.close()
    else:
        yield from _store_over_the_wire()


def _store_over_the_wire() -> Iterator[TransactionStore]:
    """The adapter built as in production (endpoint, instance, key; the SDK's own client) against the Tablestore
    double; a GetRange scans at most 3 rows, so every query pages."""
    with tablestore_double() as double:
        yield wire_store(double)


# The transactions table as the first release created it (before product_code, face and the due columns): the
# schema-upgrade tests start from it.
FIRST_RELEASE_TABLE = """
CREATE TABLE transactions (
    merchant_biz_id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL, merchant_user_id TEXT NOT NULL,
    doc_type TEXT NOT NULL, scene_code TEXT, status TEXT NOT NULL, passed TEXT, sub_code TEXT,
    callback_token_hash TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, finalized_at REAL,
    check_count INTEGER NOT NULL DEFAULT 0, next_check_at REAL, result_key TEXT, identity_masked TEXT,
    notification_enqueued INTEGER NOT NULL DEFAULT 0, result_version INTEGER NOT NULL DEFAULT 0,
    vendor_copy_deleted INTEGER NOT NULL DEFAULT 0, error TEXT
);
"""
