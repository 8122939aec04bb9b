"""shared.wiring builds every service from the environment; each settings class scrubs its own secrets."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.cloudauth import CloudAuthSettings
from shared.config import ConfigError
from shared.fetch_settings import FetchSettings
from shared.log import scrub_text
from shared.notifications import WebhookSettings
from shared.storage import SqliteQueue, StorageSettings, open_stores
from shared.sweeper import SweepSettings
from shared.verifications import FrontendSettings
from shared.wiring import build_fetcher, build_notifier, build_sweeper, build_verifications
from tests.fakes import FakeCloudAuth
from tests.sqlite_trace import tracing_sqlite

HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "KYC_BACKEND": "local",
        "KYC_DATA_DIR": str(tmp_path),
        "CLOUDAUTH_ENDPOINT": "http://127.0.0.1:9",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wiring-key-secret-" + uuid.uuid4().hex,
        "KYC_PUBLIC_URL": "http://127.0.0.1:9000",
        "KYC_JWT_SECRET": "wiring-jwt-" + uuid.uuid4().hex,
        "KYC_USER_ID_PEPPER": "wiring-pepper-" + uuid.uuid4().hex,
        "KYC_RETURN_URL_ALLOWLIST": "http://127.0.0.1:9000/",
        **extra,
    }


def _hooks(secret: str, include_pii: bool = False) -> str:
    return f'[{{"url": "https://hooks.example/kyc", "secret": "{secret}", "includePii": {str(include_pii).lower()}}}]'


def _scrubbed(secret: str) -> bool:
    return secret not in scrub_text(f"value={secret}")


def test_the_fetcher_reuses_the_client_and_stores_it_is_given(tmp_path: Path) -> None:
    env = _env(tmp_path)
    client, stores = FakeCloudAuth(), open_stores(StorageSettings.from_env(env))
    fetcher = build_fetcher(env, client=client, stores=stores)  # type: ignore[arg-type]
    assert fetcher.client is client and fetcher.store is stores.transactions and fetcher.objects is stores.objects


def test_the_fetcher_sends_re_checks_and_notifications_each_to_its_own_queue(tmp_path: Path) -> None:
    env = _env(tmp_path, KYC_RECHECK_QUEUE="my-recheck", KYC_NOTIFY_QUEUE="my-notify")
    fetcher = build_fetcher(env, client=FakeCloudAuth())  # type: ignore[arg-type]
    assert (fetcher.recheck_queue.name, fetcher.notify_queue.name) == ("my-recheck", "my-notify")  # type: ignore[attr-defined]


def test_the_fetcher_and_the_sweeper_s_fetcher_take_the_recheck_schedule_and_the_vendor_copy_setting(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, KYC_RECHECK_SCHEDULE="1,2", KYC_DELETE_VENDOR_COPY="Y")
    configured = FetchSettings(recheck_schedule=(1.0, 2.0), delete_vendor_copy=True)
    assert build_fetcher(env, client=FakeCloudAuth()).settings == configured  # type: ignore[arg-type]
    sweeper = build_sweeper(env)
    assert sweeper._fetcher.deletes_vendor_copy is True  # white box: what the sweeper reads before it builds one
    assert sweeper.fetcher.settings == configured


def test_the_sweeper_takes_its_settings_and_its_clock(tmp_path: Path) -> None:
    env = _env(tmp_path, KYC_SWEEP_BATCH="7", KYC_ABANDON_AFTER="3600")
    clock = lambda: 1_700_000_000.0  # noqa: E731
    sweeper = build_sweeper(env, clock=clock)
    assert sweeper.settings == SweepSettings.from_env(env) and sweeper.settings.batch_size == 7
    assert sweeper.clock is clock


def test_frontend_settings_are_read_before_storage_so_their_error_is_the_one_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_verifications(_env(tmp_path, KYC_BACKEND="cloud", KYC_JWT_SECRET="short"))
    assert info.value.variable == "KYC_JWT_SECRET"


def test_the_sweeper_works_on_its_fetcher_s_stores(tmp_path: Path) -> None:
    sweeper = build_sweeper(_env(tmp_path))
    assert sweeper.store is sweeper.fetcher.store and sweeper.objects is sweeper.fetcher.objects


def test_the_notifier_reads_its_subscribers(tmp_path: Path) -> None:
    notifier = build_notifier(_env(tmp_path, KYC_WEBHOOKS=_hooks(HOOK_SECRET, include_pii=True)))
    assert [s.include_pii for s in notifier.settings.subscribers] == [True]


@pytest.mark.parametrize(
    ("builder", "files"),
    # the sweeper opens the queues' file with its fetcher, at the first pass that has work for it
    [(build_verifications, 1), (build_fetcher, 2), (build_notifier, 1), (build_sweeper, 1)],
    ids=["initializer", "result_fetcher", "notifier", "sweeper"],
)
def test_a_start_on_current_local_files_opens_each_file_once_and_changes_no_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builder: Any, files: int
) -> None:
    """What each function's ``initialize`` asks of SQLite once the files exist (any start after the first): one
    connection per file it opens (the queues share theirs; the notifier opens its queues at their first send, the
    sweeper with its fetcher), the schema version read, no DDL."""
    env = _env(tmp_path, KYC_WEBHOOKS=_hooks(HOOK_SECRET))
    builder(env)  # the first start: sets the files up
    with tracing_sqlite(monkeypatch) as trace:
        builder(env)
    assert trace.ddl() == [] and not [s for s in trace.statements if s.startswith("BEGIN")]
    assert trace.connections == files
    assert trace.statements == ["PRAGMA synchronous = NORMAL", "PRAGMA user_version"] * files


def test_the_notifier_s_queues_open_at_their_first_send_and_share_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = open_stores(StorageSettings.from_env(_env(tmp_path)))
    notifier = build_notifier(_env(tmp_path, KYC_WEBHOOKS=_hooks(HOOK_SECRET)), stores=stores)
    with tracing_sqlite(monkeypatch) as trace:
        notifier.notify_queue.send(b"retry")
        notifier.deadletter_queue.send(b"dead")
    assert trace.connections == 1  # the queues' file, opened once for both
    notify, deadletter = stores.queue("notify"), stores.queue("deadletter")
    assert isinstance(notify, SqliteQueue) and isinstance(deadletter, SqliteQueue)
    assert [m.body for m in notify.peek()] == [b"retry"] and [m.body for m in deadletter.peek()] == [b"dead"]


def test_storage_is_read_before_the_webhooks_so_its_error_is_the_one_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_notifier(_env(tmp_path, KYC_BACKEND="cloud", KYC_WEBHOOKS="not json"))
    assert info.value.variable == "KYC_BACKEND"


def test_verifications_are_built_over_the_configured_store(tmp_path: Path) -> None:
    service = build_verifications(_env(tmp_path))
    assert service.settings.public_url == "http://127.0.0.1:9000" and service.store.get("a" * 32) is None


def test_frontend_settings_scrub_their_secrets_even_when_they_are_refused(tmp_path: Path) -> None:
    previous = "wiring-previous-" + uuid.uuid4().hex
    env = _env(tmp_path, KYC_JWT_PREVIOUS_SECRETS=previous, KYC_JWT_SECRET="short-" + uuid.uuid4().hex[:8])
    with pytest.raises(ConfigError):
        FrontendSettings.from_env(env)
    assert all(_scrubbed(env[name]) for name in ("KYC_JWT_SECRET", "KYC_USER_ID_PEPPER"))
    assert _scrubbed(previous)


def test_webhook_settings_scrub_every_signing_secret(tmp_path: Path) -> None:
    import base64

    secrets = ["whsec_" + base64.b64encode(uuid.uuid4().bytes + b"12345678").decode() for _ in range(2)]
    hooks = f'[{{"url": "https://hooks.example/kyc", "secret": ["{secrets[0]}", "{secrets[1]}"]}}]'
    WebhookSettings.from_env(_env(tmp_path, KYC_WEBHOOKS=hooks))
    assert all(_scrubbed(s) for s in secrets)


@pytest.mark.parametrize("reader", [CloudAuthSettings.from_env, StorageSettings.from_env])
def test_credentials_are_scrubbed_by_whatever_reads_them(tmp_path: Path, reader: Any) -> None:
    token = "wiring-sts-" + uuid.uuid4().hex
    env = _env(tmp_path, ALIBABA_CLOUD_SECURITY_TOKEN=token, KYC_BACKEND="aliyun", KYC_TABLESTORE_ENDPOINT="https://t",
               KYC_TABLESTORE_INSTANCE="i", KYC_OSS_REGION="cn-hongkong", KYC_OSS_BUCKET="b",
               KYC_MNS_ENDPOINT="https://mns.example")
    reader(env)
    assert _scrubbed(env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]) and _scrubbed(token)


def test_a_notifier_queue_whose_first_open_fails_raises_storage_error_so_the_trigger_redelivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review finding: the queues now open at the first send, inside a message's handling. A failure of the schema
    # setup escapes SqliteDatabase as a raw sqlite3 error, which NotifierApp takes for a poison message (dead
    # letter, processing_error) instead of StorageError (the trigger redelivers, the retry is kept).
    import sqlite3

    from shared.storage import StorageError, sqlite_queue

    def disk_full(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    notifier = build_notifier(_env(tmp_path, KYC_WEBHOOKS=_hooks(HOOK_SECRET)))
    monkeypatch.setattr(sqlite_queue, "_set_up", disk_full)
    with pytest.raises(StorageError):
        notifier.notify_queue.send(b"retry")
