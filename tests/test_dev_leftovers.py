"""``./scripts/dev`` at start: the verifications an earlier run left PENDING. Its sandbox kept their transactions in
memory, so the new sandbox cannot know them: they are abandoned and announced at once, through the sweeper's path,
and the banner says how many (rather than the sweeper asking the vendor in vain until ``KYC_ABANDON_AFTER``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.status import Status
from shared.storage import StorageSettings, TransactionStore, open_stores
from tests.fakes import make_record
from tests.test_fc_invoke import STACK_VARIABLES
from tools.devstack.dev import DevConfig, DevStack, StartError
from tools.localstack import release_stack_lock, remove_stack_file, write_stack_file


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in STACK_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so whatever DevStack writes is undone afterwards
        monkeypatch.delenv(name)
    monkeypatch.setenv("KYC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KYC_LOG_LEVEL", "WARNING")
    return tmp_path / "data"


def store(data_dir: Path) -> TransactionStore:
    return open_stores(StorageSettings.from_env({"KYC_BACKEND": "local", "KYC_DATA_DIR": str(data_dir)})).transactions


@pytest.fixture
def leftover(data_dir: Path) -> str:
    """A row an earlier run left PENDING."""
    record = make_record()
    store(data_dir).create(record)
    return record.merchant_biz_id


@contextmanager
def started() -> Iterator[DevStack]:
    dev = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05))
    try:
        yield dev.start()
    finally:
        dev.stop()


def test_a_row_an_earlier_run_left_pending_is_abandoned_announced_and_counted_in_the_banner(
    data_dir: Path, leftover: str
) -> None:
    with started() as dev:
        row = store(data_dir).get(leftover)
        assert row is not None and row.status is Status.ABANDONED and row.notification_enqueued
        assert dev.forgotten == 1
        assert ("  earlier run          1 verification left PENDING by an earlier run marked ABANDONED and "
                "announced: the sandbox keeps its transactions in memory, so they could never finish") in dev.banner()


def test_a_start_with_nothing_left_over_says_nothing_of_it(data_dir: Path) -> None:
    with started() as dev:
        assert dev.forgotten == 0 and "earlier run" not in dev.banner()


def test_rows_are_left_alone_while_another_stack_runs_on_the_data_directory(data_dir: Path, leftover: str) -> None:
    """Another stack (in this process here) holds the data directory: this one refuses to start, and leaves the
    rows its sandbox still knows alone."""
    write_stack_file(data_dir, {}, sandbox_running=True)  # this process's: it holds the directory's lock
    try:
        with pytest.raises(StartError, match="another stack in this process"), started():
            pass
        row = store(data_dir).get(leftover)
        assert row is not None and row.status is Status.PENDING
    finally:
        remove_stack_file(data_dir)
        release_stack_lock(data_dir)


def test_rows_are_left_alone_with_a_real_vendor_which_still_knows_them(
    data_dir: Path, leftover: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDAUTH_ENDPOINT", "https://cloudauth-intl.cn-hongkong.aliyuncs.com")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-example")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "example-secret-value")
    with started():
        row = store(data_dir).get(leftover)
        assert row is not None and row.status is Status.PENDING


def test_the_banner_names_the_settings_the_shell_set_and_never_their_values(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A setting left in the shell (an old KYC_WEBHOOKS, a KYC_ABANDON_AFTER) wins over the stack's default: a
    newcomer sees which did, without the secrets some of them hold."""
    monkeypatch.setenv("KYC_ABANDON_AFTER", "777")
    monkeypatch.setenv("SANDBOX_QPS", "55")
    with started() as dev:
        banner = dev.banner()
    (line,) = [line for line in banner.splitlines() if line.startswith("  from your shell")]
    assert line == "  from your shell      KYC_ABANDON_AFTER, KYC_LOG_LEVEL, SANDBOX_QPS"
    assert "KYC_DATA_DIR" not in line


def test_the_banner_tells_which_of_the_shell_s_settings_the_stack_replaced(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real key exported in the shell is not the one the functions use when the stack's sandbox plays the vendor
    (found by review t: the banner said it won)."""
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-shell-key-id")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "shell-key-secret")
    with started() as dev:
        banner = dev.banner().splitlines()
    (kept,) = [line for line in banner if line.startswith("  from your shell")]
    (replaced,) = [line for line in banner if line.startswith("  replaced by the stack")]
    assert "ALIBABA_CLOUD" not in kept
    assert replaced == "  replaced by the stack ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET"
    assert not any("shell-key" in line for line in banner)

