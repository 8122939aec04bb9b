"""``open_object_store(settings, lazy=True)`` and which functions open the object store lazily."""

from __future__ import annotations

import threading

import pytest

from shared.config import ConfigError
from shared.handlers.notifier import NotifierApp
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.handlers.sweeper import SweeperApp
from shared.storage import DirectoryObjectStore, OssObjectStore, StorageSettings, open_object_store
from shared.storage.settings import LazyObjectStore
from shared.values import replace

from .test_settings import ALIYUN

FUNCTION_ENV = {
    **ALIYUN,
    "KYC_PUBLIC_URL": "https://kyc.example.com",
    "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
    "KYC_JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
    "KYC_USER_ID_PEPPER": "test-pepper-0123456789",
}
HOOK = '{"url": "https://hooks.example.com/kyc", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"'


def test_lazy_store_builds_the_real_one_on_first_use_and_only_once(tmp_path: object) -> None:
    built: list[DirectoryObjectStore] = []

    def build() -> DirectoryObjectStore:
        built.append(DirectoryObjectStore(tmp_path))  # type: ignore[arg-type]
        return built[-1]

    lazy = LazyObjectStore(build)
    assert built == [] and not lazy.opened
    threads = [threading.Thread(target=lazy.put, args=(f"results/a/{i}.json", b"{}", "application/json"))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and lazy.opened
    assert sorted(lazy.list("results/a/")) == [f"results/a/{i}.json" for i in range(8)]
    assert lazy.get("results/a/0.json") == b"{}"
    assert lazy.exists("results/a/1.json")
    lazy.delete("results/a/1.json")
    assert lazy.delete_prefix("results/a/") == 7


def test_lazy_aliyun_open_builds_no_client_but_returns_an_oss_store_on_use() -> None:
    lazy = open_object_store(StorageSettings.from_env(ALIYUN), lazy=True)
    assert isinstance(lazy, LazyObjectStore) and not lazy.opened
    assert isinstance(lazy._target(), OssObjectStore)


def test_lazy_aliyun_open_still_rejects_missing_settings_at_once() -> None:
    settings = replace(StorageSettings.from_env(ALIYUN), oss_bucket=None)
    with pytest.raises(ConfigError) as info:
        open_object_store(settings, lazy=True)
    assert info.value.variable == "KYC_OSS_BUCKET"


def test_notifier_defers_the_object_store_when_no_subscriber_wants_pii() -> None:
    app = NotifierApp.from_env({**FUNCTION_ENV, "KYC_WEBHOOKS": f"[{HOOK}}}]"})
    objects = app.notifier.objects
    assert isinstance(objects, LazyObjectStore) and not objects.opened


def test_notifier_opens_the_object_store_at_initialize_for_a_pii_subscriber() -> None:
    app = NotifierApp.from_env({**FUNCTION_ENV, "KYC_WEBHOOKS": f'[{HOOK}, "includePii": true}}]'})
    assert isinstance(app.notifier.objects, OssObjectStore)


def test_sweeper_defers_the_object_store_until_a_run_needs_it() -> None:
    app = SweeperApp.from_env({**FUNCTION_ENV, "KYC_WEBHOOKS": f"[{HOOK}}}]"})
    objects = app.sweeper.fetcher.objects
    assert isinstance(objects, LazyObjectStore) and not objects.opened


def test_result_fetcher_opens_the_object_store_at_initialize() -> None:
    app = ResultFetcherApp.from_env({**FUNCTION_ENV, "KYC_WEBHOOKS": f"[{HOOK}}}]"})
    assert isinstance(app.fetcher.objects, OssObjectStore)
