"""Bad input to `./scripts/kyc` is one `error: <Code>: ...` line and exit 2, never a Python traceback (found by
review: a ValueError or OverflowError the standard library raised on an operator's value escaped ``main``; a local
file error was reported as a connection that failed, after the vendor had answered)."""

from __future__ import annotations

import errno
import io
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared.storage import StorageSettings, open_stores
from tests.test_cloudauth_fakeserver import FakeCloudAuth, Reply, fake
from tests.test_kyc_cli import META, check_body, frontend_env
from tools.ops import kyc
from tools.ops.common import parse_duration, parse_since

__all__ = ["fake"]

KEYS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-review-mm", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "review-mm-secret"}
UNDECODABLE_USER = "bob\udcff"  # what Python makes of `--user $'bob\xff'` (argv bytes that are not UTF-8)


def _main(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = kyc.main(args, env=env, stdout=out, stderr=err, stdin=io.StringIO())
    except Exception as exc:  # what the operator sees as a traceback
        pytest.fail(f"`kyc {' '.join(args)!r}` raised {type(exc).__name__}: {exc} (a traceback) instead of "
                    "printing one `error: <Code>: ...` line and exiting 2")
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text("{}")
    return path


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections (in its backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server.getsockname()[1]


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:99999", "http://127.0.0.1:port", "http://[::1"])
def test_invoke_with_a_malformed_endpoint_exits_2_with_one_error_line(
    tmp_path: Path, event_file: Path, endpoint: str
) -> None:
    env = {**KEYS, "KYC_DATA_DIR": str(tmp_path / "no-stack")}
    code, _, err = _main(["invoke", "sweeper", "--event-file", str(event_file), "--endpoint", endpoint], env)
    assert code == 2 and err.startswith("error: "), err


def test_invoke_with_an_infinite_kyc_fc_timeout_exits_2_naming_the_variable(
    tmp_path: Path, event_file: Path, listening_port: int
) -> None:
    env = {**KEYS, "KYC_DATA_DIR": str(tmp_path / "no-stack"), "KYC_FC_TIMEOUT": "inf"}
    code, _, err = _main(
        ["invoke", "sweeper", "--event-file", str(event_file), "--endpoint", f"http://127.0.0.1:{listening_port}"],
        env,
    )
    assert code == 2 and "KYC_FC_TIMEOUT" in err, err


def test_erase_of_a_user_id_that_is_not_unicode_exits_2_with_one_error_line(tmp_path: Path) -> None:
    env = {"KYC_BACKEND": "local", "KYC_DATA_DIR": str(tmp_path), "KYC_USER_ID_PEPPER": "review-mm-pepper-0123456789"}
    open_stores(StorageSettings.from_env(env)).transactions.get("tx" + "0" * 30)  # a data directory with data
    code, out, err = _main(["erase", "--user", UNDECODABLE_USER, "--dry-run"], env)
    assert (code, out, err) == (2, "", "error: InvalidUsage: argument 3 is not valid UTF-8\n")  # before it runs


def test_initialize_for_a_user_id_that_is_not_unicode_exits_2_without_calling_the_vendor(
    fake: FakeCloudAuth, tmp_path: Path
) -> None:
    code, _, err = _main(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", UNDECODABLE_USER],
                         frontend_env(fake, tmp_path))
    assert code == 2 and err.startswith("error: ") and fake.requests == [], err


def test_check_result_images_into_a_directory_that_cannot_be_made_names_it_and_exits_2_not_as_a_connection_error(
    fake: FakeCloudAuth, tmp_path: Path
) -> None:
    fake.reply(Reply(body=check_body(with_image=True)))
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    code, _, err = _main(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1", "--images",
                          "--images-dir", str(not_a_directory)], fake.env())
    assert code == 2 and "TransportError" not in err and "images-dir" in err, err
    assert fake.requests == [], "checked before the vendor is asked"


@pytest.mark.parametrize(
    "endpoint",
    ["http://my host.fc.example:9000", "https://1234..cn-hangzhou.fc.aliyuncs.com", "https://" + "a" * 64 + ".example"],
    ids=["a space in the host", "an empty label", "a label over 63 characters"],
)
def test_invoke_with_an_endpoint_whose_host_is_malformed_exits_2_with_one_error_line(
    tmp_path: Path, event_file: Path, endpoint: str
) -> None:
    env = {**KEYS, "KYC_DATA_DIR": str(tmp_path / "no-stack")}
    code, _, err = _main(["invoke", "sweeper", "--event-file", str(event_file), "--endpoint", endpoint], env)
    assert code == 2 and err.startswith("error: "), err


def test_check_result_images_that_cannot_be_written_are_not_reported_as_a_failed_connection(
    fake: FakeCloudAuth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory can be made (30627ba checks that before the vendor is asked), but writing an image fails
    after the vendor answered: a full disk, a read-only mount, a file of that name the operator may not replace.
    ``kyc`` says "TransportError: a connection failed (OSError)", and the operator looks at the network."""

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(kyc, "write_private", disk_full)
    fake.reply(Reply(body=check_body(with_image=True)))
    code, _, err = _main(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1", "--images",
                          "--images-dir", str(tmp_path / "imgs")], fake.env())
    assert code != 0 and len(fake.requests) == 1
    assert "TransportError" not in err and "connection" not in err and "ImageNotWritten" in err, err


def test_initialize_for_an_empty_user_refuses_before_it_opens_anything(fake: FakeCloudAuth, tmp_path: Path) -> None:
    env = frontend_env(fake, tmp_path)
    code, _, err = _main(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", " "], env)
    assert code == 2 and "--user must not be empty" in err
    assert not Path(env["KYC_DATA_DIR"]).exists() and fake.requests == []


@pytest.mark.parametrize(
    ("argv", "usage", "says"),
    [
        (["statuz", "x"], "usage: kyc ", "invalid choice: 'statuz'"),
        (["status"], "usage: kyc status ", "required: merchantBizId"),
        (["list", "--since"], "usage: kyc list ", "--since: expected one argument"),
    ],
)
def test_bad_usage_prints_the_commands_usage_then_one_error_line_in_the_tools_shape_and_exits_2(
    tmp_path: Path, argv: list[str], usage: str, says: str
) -> None:
    code, out, err = _main(argv, {"KYC_DATA_DIR": str(tmp_path)})
    *usage_lines, last = err.rstrip("\n").splitlines()
    assert code == 2 and out == "" and usage_lines[0].startswith(usage), err
    assert last.startswith("error: InvalidUsage: ") and says in last, err
    assert not any(line.startswith("kyc") and ": error:" in line for line in usage_lines), err


# --- ages and times (--since, --until, --older-than): found by mutating tools/ops/common.py ----------------------


@pytest.mark.parametrize(("age", "seconds"), [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("24h", 86400.0),
                                              ("7d", 604800.0), ("2w", 1209600.0), ("1.5h", 5400.0)])
def test_an_age_is_read_in_its_unit(age: str, seconds: float) -> None:
    assert parse_duration(age, "--older-than") == seconds


def test_an_iso_time_without_an_offset_is_utc_whatever_this_machine_s_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Hong_Kong")
    time.tzset()
    try:
        at = parse_since("2025-03-05T06:00:00", "--since", 0.0)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert at == datetime(2025, 3, 5, 6, tzinfo=timezone.utc).timestamp()
