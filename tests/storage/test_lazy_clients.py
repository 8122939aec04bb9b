"""The storage adapters build their SDK clients on first use (``shared.lazy.Lazy``), once, while opening them
still checks every setting: a function's ``initialize`` fails fast and imports no SDK
(tests/test_import_budget.py checks the imports in a fresh interpreter)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2
import pytest
import tablestore

from shared.config import ConfigError
from shared.handlers.initializer import InitializerApp
from shared.handlers.notifier import NotifierApp
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.handlers.sweeper import SweeperApp
from shared.lazy import Lazy
from shared.storage import OssObjectStore, StorageSettings, TablestoreTransactionStore, open_stores
from tools.bench.cold import backend_env
from tools.doubles.oss import OssDouble

from .conftest import make_record, tablestore_double, wire_store
from .test_oss_wire import BUCKET, CREDS, REGION
from .test_settings import ALIYUN

APPS: dict[str, Callable[[dict[str, str]], object]] = {
    "initializer": InitializerApp.from_env,
    "result_fetcher": ResultFetcherApp.from_env,
    "notifier": NotifierApp.from_env,
    "sweeper": SweeperApp.from_env,
}
THREADS = 8


def _at_once(call: Callable[[], Any]) -> list[Any]:
    """``call()`` from ``THREADS`` threads released together; their results."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == THREADS
    return results


def _counting(cls: type, built: list[object]) -> type:
    """A subclass of ``cls`` that records each instance and is slow to build (a wide window for a race)."""

    class Counting(cls):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.05)
            super().__init__(*args, **kwargs)
            built.append(self)

    return Counting


def test_lazy_builds_its_value_once_under_concurrent_first_calls() -> None:
    built: list[object] = []

    def build() -> object:
        time.sleep(0.05)
        built.append(object())
        return built[-1]

    lazy = Lazy(build)
    assert not lazy.built
    assert _at_once(lazy.get) == [built[0]] * THREADS
    assert len(built) == 1 and lazy.built


def test_lazy_builds_again_after_a_build_that_raised() -> None:
    attempts: list[int] = []

    def build() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("first build fails")
        return len(attempts)

    lazy = Lazy(build)
    with pytest.raises(OSError):
        lazy.get()
    assert not lazy.built
    assert lazy.get() == 2 and lazy.get() == 2


def test_opening_the_aliyun_stores_builds_no_sdk_client() -> None:
    stores = open_stores(StorageSettings.from_env(ALIYUN))
    transactions, objects = stores.transactions, stores.objects
    assert isinstance(transactions, TablestoreTransactionStore) and isinstance(objects, OssObjectStore)
    assert not transactions._sdk.built and not objects._sdk.built


def test_tablestore_store_builds_its_client_once_under_concurrent_first_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    with tablestore_double() as double:  # (its setup builds a client of its own)
        monkeypatch.setattr(tablestore, "OTSClient", _counting(tablestore.OTSClient, built))
        store = wire_store(double)
        assert built == []
        assert _at_once(lambda: store.get("a" * 32)) == [None] * THREADS
    assert len(built) == 1 and store._client is built[0]


def test_a_tablestore_client_that_cannot_be_built_is_a_storage_error_and_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.storage import StorageError, tablestore_store

    def unavailable() -> Any:
        raise ImportError("tablestore")

    with tablestore_double() as double:
        store = wire_store(double)
        with monkeypatch.context() as patch:
            patch.setattr(tablestore_store, "import_tablestore", unavailable)
            with pytest.raises(StorageError) as info:
                store.get("a" * 32)
        assert info.value.code == "ClientUnavailable"
        assert store.get("a" * 32) is None  # the next call builds it


def test_a_write_is_a_storage_error_too_when_the_tablestore_client_cannot_be_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.storage import ClientUnavailable, tablestore_store

    def unavailable() -> Any:
        raise ImportError("tablestore")

    monkeypatch.setattr(tablestore_store, "import_tablestore", unavailable)
    store = TablestoreTransactionStore(table="t", endpoint="https://i.cn-hongkong.ots.aliyuncs.com", instance="i",
                                       credentials=CREDS)  # fmt: skip
    with pytest.raises(ClientUnavailable):
        store.create(make_record())


def test_an_oss_client_that_cannot_be_built_is_a_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.storage import ClientUnavailable, oss

    def unavailable() -> Any:
        raise ImportError("alibabacloud_oss_v2")

    monkeypatch.setattr(oss, "import_oss", unavailable)
    store = OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS)
    with pytest.raises(ClientUnavailable):
        store.put("results/a/result.json", b"{}", "application/json")
    with pytest.raises(ClientUnavailable):
        store.get("results/a/result.json")


def test_oss_store_builds_its_client_once_under_concurrent_first_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    monkeypatch.setattr(alibabacloud_oss_v2, "Client", _counting(alibabacloud_oss_v2.Client, built))
    with OssDouble(
        access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret,
        security_token=CREDS.security_token, bucket=BUCKET, region=REGION,
    ) as server:
        store = OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=server.endpoint)
        assert built == []
        assert _at_once(lambda: store.exists("results/a/result.json")) == [False] * THREADS
    assert len(built) == 1 and store._client is built[0]


@pytest.mark.parametrize("function", sorted(APPS))
@pytest.mark.parametrize(
    ("variable", "value"),
    [("KYC_TABLESTORE_ENDPOINT", "bench.cn-hongkong.ots.aliyuncs.com"), ("KYC_TABLESTORE_ENDPOINT", "https://[bad"),
     ("KYC_MNS_ENDPOINT", "mns.example.com")],
)
def test_a_bad_aliyun_endpoint_still_fails_initialize_naming_it(
    function: str, variable: str, value: str, tmp_path: Path
) -> None:
    env = {**backend_env("aliyun", tmp_path), variable: value}
    with pytest.raises(ConfigError) as info:
        APPS[function](env)
    assert info.value.variable == variable


@pytest.mark.parametrize("function", sorted(APPS))
@pytest.mark.parametrize("backend", ["local", "aliyun"])
@pytest.mark.parametrize("variable", ["KYC_NOTIFY_QUEUE", "KYC_DEADLETTER_QUEUE", "KYC_RECHECK_QUEUE"])
def test_a_bad_queue_name_fails_initialize_naming_it(
    function: str, backend: str, variable: str, tmp_path: Path
) -> None:
    """Also where the queue opens at its first send (the notifier's): the name is checked with the settings."""
    env = {**backend_env(backend, tmp_path), variable: "kyc/notify"}
    with pytest.raises(ConfigError) as info:
        APPS[function](env)
    assert info.value.variable == variable
