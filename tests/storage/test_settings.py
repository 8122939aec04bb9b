from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.config import ConfigError
from shared.storage import (
    DirectoryObjectStore,
    MnsQueue,
    OssObjectStore,
    SqliteQueue,
    SqliteTransactionStore,
    StorageSettings,
    TablestoreTransactionStore,
    open_object_store,
    open_queue,
    open_stores,
    open_transaction_store,
)
from tools.doubles.oss import OssDouble

from .conftest import BUCKET, CREDS, REGION

ROOT = Path(__file__).resolve().parents[2]

ALIYUN = {
    "KYC_BACKEND": "aliyun",
    "KYC_TABLESTORE_ENDPOINT": "https://inst.cn-hangzhou.ots.aliyuncs.com",
    "KYC_TABLESTORE_INSTANCE": "inst",
    "KYC_OSS_REGION": "cn-hangzhou",
    "KYC_OSS_BUCKET": "bucket",
    "KYC_MNS_ENDPOINT": "https://123.mns.cn-hangzhou.aliyuncs.com",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "AKID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "SECRET-VALUE",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "TOKEN",
}


@pytest.mark.parametrize(("given", "key_id"), [("cmk-merchant-1234", "cmk-merchant-1234"), ("", None), (None, None)])
def test_the_object_store_names_the_customer_key_from_the_environment(given: str | None, key_id: str | None) -> None:
    env = ALIYUN if given is None else {**ALIYUN, "KYC_OSS_KMS_KEY_ID": given}
    store = open_object_store(StorageSettings.from_env(env))
    assert getattr(store, "kms_key_id", "missing") == key_id


@pytest.mark.parametrize(("given", "versioned"), [("true", True), ("false", False), (None, False)])
def test_the_object_store_deletes_every_version_on_a_bucket_the_environment_says_keeps_them(
    given: str | None, versioned: bool
) -> None:
    """review bi: on a versioned bucket (``KYC_BUCKET_VERSIONING``) an erasure must delete every version by its id;
    a store opened without the setting puts delete markers in front and the person's images stay as versions."""
    env = ALIYUN if given is None else {**ALIYUN, "KYC_BUCKET_VERSIONING": given}
    store = open_object_store(StorageSettings.from_env(env))
    assert getattr(store, "versioned", "missing") is versioned


def test_default_backend_is_local_in_kyc_data() -> None:
    settings = StorageSettings.from_env({})
    assert (settings.backend, settings.data_dir) == ("local", ".kyc-data")


def test_unknown_backend_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        StorageSettings.from_env({"KYC_BACKEND": "aws"})
    assert info.value.variable == "KYC_BACKEND"


@pytest.mark.parametrize(
    "missing",
    [
        "KYC_TABLESTORE_ENDPOINT",
        "KYC_TABLESTORE_INSTANCE",
        "KYC_OSS_REGION",
        "KYC_OSS_BUCKET",
        "KYC_MNS_ENDPOINT",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    ],
)
def test_aliyun_missing_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in ALIYUN.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        StorageSettings.from_env(env)
    assert info.value.variable == missing


def test_the_backend_is_named_in_any_case() -> None:
    assert StorageSettings.from_env({**ALIYUN, "KYC_BACKEND": "Aliyun"}).backend == "aliyun"
    assert StorageSettings.from_env({"KYC_BACKEND": "LOCAL"}).backend == "local"


def test_a_required_variable_of_spaces_only_is_not_set_and_values_are_trimmed() -> None:
    with pytest.raises(ConfigError) as info:
        StorageSettings.from_env({**ALIYUN, "KYC_TABLESTORE_INSTANCE": "   "})
    assert info.value.variable == "KYC_TABLESTORE_INSTANCE"
    assert StorageSettings.from_env({**ALIYUN, "KYC_TABLESTORE_INSTANCE": " inst "}).tablestore_instance == "inst"


def test_the_local_queues_are_named_by_the_environment_too(tmp_path: Path) -> None:
    env = {"KYC_DATA_DIR": str(tmp_path), "KYC_RECHECK_QUEUE": "r2", "KYC_NOTIFY_QUEUE": "n2",
           "KYC_DEADLETTER_QUEUE": "d2"}
    settings = StorageSettings.from_env(env)
    assert settings.queue_names == {"recheck": "r2", "notify": "n2", "deadletter": "d2"}
    queue = open_queue(settings, "notify")
    assert isinstance(queue, SqliteQueue) and queue.name == "n2"


def test_the_tables_only_settings_read_the_table_and_check_the_endpoint() -> None:
    """``kyc setup-tables`` creates the table the functions will use: the one KYC_TABLESTORE_TABLE names."""
    tables = StorageSettings.from_env({**ALIYUN, "KYC_TABLESTORE_TABLE": "kyc_prod"}, tablestore_only=True)
    assert tables.tablestore_table == "kyc_prod"
    with pytest.raises(ConfigError) as info:
        StorageSettings.from_env({**ALIYUN, "KYC_TABLESTORE_ENDPOINT": "inst.ots.aliyuncs.com"}, tablestore_only=True)
    assert info.value.variable == "KYC_TABLESTORE_ENDPOINT"


@pytest.mark.parametrize("variable", ["KYC_TABLESTORE_ENDPOINT", "KYC_MNS_ENDPOINT"])
def test_an_endpoint_with_a_query_or_fragment_is_refused(variable: str) -> None:
    for tail in ("?x=1", "#f"):
        with pytest.raises(ConfigError) as info:
            StorageSettings.from_env({**ALIYUN, variable: ALIYUN[variable] + "/" + tail})
        assert info.value.variable == variable


def test_the_object_store_keeps_objects_under_the_configured_prefix_at_the_configured_endpoint(
    server: OssDouble,
) -> None:
    env = {**ALIYUN, "KYC_OSS_BUCKET": BUCKET, "KYC_OSS_REGION": REGION, "KYC_OSS_ENDPOINT": server.endpoint,
           "KYC_OSS_PREFIX": "prod/", "ALIBABA_CLOUD_ACCESS_KEY_ID": CREDS.access_key_id,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": CREDS.access_key_secret,
           "ALIBABA_CLOUD_SECURITY_TOKEN": str(CREDS.security_token)}
    open_object_store(StorageSettings.from_env(env)).put("results/abc/result.json", b"{}", "application/json")
    assert server.keys() == ["prod/results/abc/result.json"]


def test_aliyun_reads_values_and_defaults() -> None:
    settings = StorageSettings.from_env({**ALIYUN, "KYC_OSS_PREFIX": "/prod/", "KYC_NOTIFY_QUEUE": "n2"})
    assert settings.tablestore_table == "kyc_transactions"
    assert settings.oss_prefix == "prod"
    assert settings.queue_names == {"recheck": "kyc-recheck", "notify": "n2", "deadletter": "kyc-deadletter"}
    assert settings.credentials is not None and settings.credentials.security_token == "TOKEN"


def test_the_object_key_prefix_defaults_to_the_stack_s_default_results_prefix() -> None:
    """An operator's shell without KYC_OSS_PREFIX (``kyc erase``) must reach the objects a default deployment keeps
    under template.yml's ResultsPrefix: with no prefix, erase deleted the row and reported no object, while the
    person's documents stayed."""
    template = yaml.safe_load((Path(__file__).resolve().parents[2] / "template.yml").read_text())
    assert StorageSettings.from_env(ALIYUN).oss_prefix == template["Parameters"]["ResultsPrefix"]["Default"].strip("/")


def test_settings_repr_hides_the_secret() -> None:
    assert "SECRET-VALUE" not in repr(StorageSettings.from_env(ALIYUN))


def test_local_factories_use_the_documented_layout(tmp_path: Path) -> None:
    settings = StorageSettings.from_env({"KYC_DATA_DIR": str(tmp_path)})
    assert isinstance(open_transaction_store(settings), SqliteTransactionStore)
    assert isinstance(open_object_store(settings), DirectoryObjectStore)
    assert isinstance(open_queue(settings, "recheck"), SqliteQueue)
    assert {p.name for p in tmp_path.iterdir()} >= {"kyc.sqlite3", "queues.sqlite3", "objects"}


def test_open_queue_rejects_unknown_logical_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_queue(StorageSettings.from_env({"KYC_DATA_DIR": str(tmp_path)}), "kyc-recheck")


def test_a_queue_opened_on_first_send_must_be_one_of_the_three(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_stores(StorageSettings.from_env({"KYC_DATA_DIR": str(tmp_path)})).queue_on_first_send("kyc-notify")


def test_each_queue_of_the_stores_is_opened_once(tmp_path: Path) -> None:
    stores = open_stores(StorageSettings.from_env({"KYC_DATA_DIR": str(tmp_path)}))
    assert stores.queue("notify") is stores.queue("notify")


def test_aliyun_factories_build_sdk_backends_without_network() -> None:
    stores = open_stores(StorageSettings.from_env(ALIYUN))
    assert isinstance(stores.transactions, TablestoreTransactionStore)
    assert isinstance(stores.objects, OssObjectStore)
    queue = stores.queue("notify")
    assert isinstance(queue, MnsQueue) and queue.queue_name == "kyc-notify"


def test_importing_and_using_local_backend_loads_no_vendor_sdk(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from shared.storage import open_stores, StorageSettings\n"
        f"stores = open_stores(StorageSettings.from_env({{'KYC_DATA_DIR': {str(tmp_path)!r}}}))\n"
        "stores.objects.put('a/b', b'x', 'text/plain')\n"
        "stores.queue('notify').send(b'x')\n"
        "stores.transactions.get('nothing')\n"
        "loaded = [m for m in ('tablestore', 'alibabacloud_oss_v2', 'mns') if m in sys.modules]\n"
        "print(','.join(loaded) or 'none')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "none"
