"""Queue names: MNS's rule ("CreateQueue": up to 120 letters, digits and hyphens, starting with a letter or digit),
checked for every backend, so that a name MNS would refuse fails at the start, locally too."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError
from shared.signing import Credentials
from shared.storage import MnsQueue, SqliteQueue
from shared.storage.queueing import MAX_QUEUE_NAME_CHARS, check_queue_name
from shared.storage.settings import StorageSettings

ACCEPTED = ["kyc-recheck", "a", "9", "Kyc-Notify-2", "a" * MAX_QUEUE_NAME_CHARS, "a-", "a--b"]
REFUSED = [
    "",
    "a" * (MAX_QUEUE_NAME_CHARS + 1),
    "-kyc",
    "kyc_notify",
    "kyc.notify",
    "kyc/notify",
    "kyc notify",
    "kyc-ü",
    "ｋｙｃ",  # full-width letters: alphanumeric to Python, not to MNS
    "kyc-\u0663",  # an Arabic-Indic digit
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_name_of_letters_digits_and_hyphens_up_to_120_characters_is_accepted(name: str) -> None:
    assert check_queue_name(name) == name


@pytest.mark.parametrize("name", REFUSED)
def test_a_name_mns_would_refuse_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits and hyphens"):
        check_queue_name(name)


def test_the_local_queue_refuses_a_name_mns_would_refuse(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteQueue(tmp_path / "queues.sqlite3", "kyc_notify")


def test_the_mns_queue_refuses_a_name_mns_would_refuse() -> None:
    with pytest.raises(ValueError):
        MnsQueue("https://123.mns.cn-hongkong.aliyuncs.com", "kyc_notify", Credentials("id", "secret"))


@pytest.mark.parametrize("backend", ["local", "aliyun"])
def test_the_settings_name_the_variable_that_holds_a_refused_name(backend: str, tmp_path: Path) -> None:
    env = {"KYC_BACKEND": backend, "KYC_DATA_DIR": str(tmp_path), "KYC_NOTIFY_QUEUE": "kyc_notify"}
    with pytest.raises(ConfigError) as info:
        StorageSettings.from_env(env)
    assert info.value.variable == "KYC_NOTIFY_QUEUE"
