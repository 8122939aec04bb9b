"""``./scripts/kyc`` finds the running ``./scripts/dev`` by itself (tools/localstack.py): every setting its
functions run with, whichever backend it runs on, only while it runs, and says whose settings it uses."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
from pathlib import Path

from shared import jsonutil
from tests.test_fc_invoke import stack
from tests.test_kyc_doctor import doubles_stack
from tools.devstack.dev import DevStack
from tools.localstack import STACK_FILE, function_variables, write_private
from tools.ops import kyc

__all__ = ["doubles_stack", "stack"]


def fresh_shell(data_dir: Path) -> dict[str, str]:
    """A shell next to the running stack: none of the functions' variables, only where the data directory is."""
    keep = {"PATH", "HOME", "LANG"}
    return {**{k: v for k, v in os.environ.items() if k in keep}, "KYC_DATA_DIR": str(data_dir)}


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(list(args), env=env, stdout=out, stderr=err, stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


def doctor_findings(env: dict[str, str]) -> dict[str, list[str]]:
    _, out, _ = run(env, "doctor", "--timeout", "5", "--json")
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        item = jsonutil.loads(line)
        found.setdefault(item["check"], []).append(item["status"])
    return found


def test_the_stack_file_holds_every_variable_the_functions_run_with_owner_only(stack: DevStack) -> None:
    path = stack.data_dir / STACK_FILE
    recorded = jsonutil.loads(path.read_bytes())
    assert recorded["pid"] == os.getpid()
    assert function_variables(stack.env).items() <= recorded["env"].items()
    assert {"KYC_WEBHOOKS", "CLOUDAUTH_PRODUCTS", "KYC_JWT_SECRET", "KYC_HTTP_PORT"} <= set(recorded["env"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_doctor_in_a_fresh_shell_checks_the_stack_s_webhook_and_every_product_it_allows(stack: DevStack) -> None:
    found = doctor_findings(fresh_shell(stack.data_dir))
    assert found["webhook 1/1"] == ["ok"]
    assert found["product"] == ["ok", "ok", "ok"]  # eKYC, eKYC_PRO, FACE_LIVENESS_PRO in Hong Kong
    assert {s for statuses in found.values() for s in statuses} == {"ok"}


def test_doctor_says_which_stack_s_settings_it_uses(stack: DevStack) -> None:
    _, out, err = run(fresh_shell(stack.data_dir), "doctor", "--timeout", "5")
    first = out.splitlines()[0]
    assert f"./scripts/dev stack running as process {os.getpid()} (backend local;" in first
    assert "process environment; backend" not in first
    assert f"running as process {os.getpid()}" in err


def test_the_cli_finds_the_stack_on_the_aliyun_doubles(doubles_stack: DevStack) -> None:
    env = fresh_shell(doubles_stack.data_dir)
    code, out, err = run(env, "initialize", "--user", "erin", "--doc-type", "01000000", "--meta-info", "{}")
    assert code == 0, err
    merchant_biz_id = jsonutil.loads(out)["merchantBizId"]
    code, out, err = run(env, "status", merchant_biz_id)
    assert code == 0, err
    assert jsonutil.loads(out)["merchantBizId"] == merchant_biz_id
    assert "(backend aliyun;" in err
    _, out, _ = run(env, "doctor", "--timeout", "5")
    assert out.splitlines()[0].endswith("; backend aliyun; every check answers within 5 s")


def test_the_stack_file_is_removed_when_the_stack_stops(stack: DevStack) -> None:
    path = stack.data_dir / STACK_FILE
    assert path.exists()
    stack.stop()
    assert not path.exists()


def test_a_command_lacking_a_setting_with_no_stack_running_says_so_and_how_to_start_one(tmp_path: Path) -> None:
    """The note first: a newcomer reading the first line goes looking for cloud keys (a newcomer's review)."""
    code, _, err = run(fresh_shell(tmp_path), "check-result", "--merchant-biz-id", "b", "--transaction-id", "t")
    note, error = err.splitlines()[:2]
    assert code == 2 and error.startswith("error: ConfigError:")
    assert note.startswith(f"note: no ./scripts/dev stack is running in {tmp_path}: start ./scripts/dev")


def test_with_no_stack_running_a_command_needing_none_says_nothing_of_it(tmp_path: Path) -> None:
    from shared.storage import StorageSettings, open_transaction_store

    open_transaction_store(StorageSettings(backend="local", data_dir=tmp_path)).close()  # data an earlier run left
    code, _, err = run(fresh_shell(tmp_path), "list")
    assert code == 0 and "./scripts/dev" not in err


def test_doctor_with_no_stack_running_says_so_first(tmp_path: Path) -> None:
    _, out, _ = run(fresh_shell(tmp_path), "doctor", "--timeout", "1")
    assert "no ./scripts/dev stack is running" in out.splitlines()[0]


def test_the_file_of_a_stack_whose_process_ended_is_ignored(tmp_path: Path) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    write_private(tmp_path / STACK_FILE, jsonutil.dumps({"pid": ended.pid, "env": {"KYC_BACKEND": "aliyun"}}))
    _, _, err = run(fresh_shell(tmp_path), "check-result", "--merchant-biz-id", "b", "--transaction-id", "t")
    assert "no ./scripts/dev stack is running" in err


def test_an_environment_choosing_another_backend_is_not_mixed_with_the_stack_s(stack: DevStack) -> None:
    env = {**fresh_shell(stack.data_dir), "KYC_BACKEND": "aliyun"}
    code, _, err = run(env, "list")
    assert code == 2 and "./scripts/dev" not in err and "configuration error" in err


def test_a_shell_that_sourced_the_doubles_env_file_is_told_when_no_stack_runs(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on, as the doubles' once the stack stopped
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {**fresh_shell(tmp_path), "KYC_BACKEND": "aliyun", "KYC_TABLESTORE_ENDPOINT": closed,
           "KYC_TABLESTORE_INSTANCE": "kyc-ekyc", "KYC_OSS_REGION": "cn-hongkong", "KYC_OSS_BUCKET": "b",
           "KYC_OSS_ENDPOINT": closed, "KYC_MNS_ENDPOINT": closed, "ALIBABA_CLOUD_ACCESS_KEY_ID": "sandbox",
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sandbox-secret"}
    code, _, err = run(env, "list")
    note, error = err.splitlines()[:2]
    assert code == 1 and error.startswith("error: TransportError:")
    assert note.startswith(f"note: no ./scripts/dev stack is running in {tmp_path}: start ./scripts/dev")


def test_a_deployment_s_own_settings_are_not_told_of_local_stacks(tmp_path: Path) -> None:
    code, _, err = run({**fresh_shell(tmp_path), "KYC_BACKEND": "aliyun"}, "list")
    assert code == 2 and "configuration error" in err and "./scripts/dev" not in err
