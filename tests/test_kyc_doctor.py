"""``./scripts/kyc doctor`` against the real local stack (DevStack: gateway, functions, sandbox), run as an operator
runs it: ``kyc.main`` with an environment, reading its printed lines."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from tests.loopback import DrippingServer
from tests.sandbox.helpers import control
from tests.test_fc_invoke import STACK_VARIABLES, stack
from tools.devstack.aliyun import ENV_FILE, STORAGE_VARIABLES
from tools.devstack.dev import DevConfig, DevStack
from tools.localstack import resolve_env
from tools.ops import kyc
from tools.ops.common import Context
from tools.ops.doctor import _inputs

__all__ = ["stack"]

HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def doctor(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(["doctor", "--timeout", "5", *args], env=env, stdout=out, stderr=err, stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


def findings(out: str) -> dict[str, list[dict[str, str]]]:
    """Findings by check name, from --json output."""
    by_check: dict[str, list[dict[str, str]]] = {}
    for line in out.splitlines():
        item = jsonutil.loads(line)
        by_check.setdefault(item["check"], []).append(item)
    return by_check


def only(out: str, check: str) -> dict[str, str]:
    [finding] = findings(out)[check]
    return finding


def dev_env(**changes: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(changes)
    return env


# --- the local stack as it runs ------------------------------------------------------------------------------


def test_doctor_passes_against_the_local_stack(stack: DevStack) -> None:
    code, out, _ = doctor(dev_env(), "--json")
    assert code == 0, out
    checks = findings(out)
    assert {f["status"] for items in checks.values() for f in items} == {"ok"}
    assert {"product", "vendor.region", "storage.data-dir", "config.initializer", "config.result_fetcher",
            "config.notifier", "config.sweeper", "vendor.endpoint", "vendor.credentials", "public-url",
            "webhook 1/1"} == set(checks)


def test_the_text_report_has_one_line_per_check_and_a_summary(stack: DevStack) -> None:
    code, out, _ = doctor(dev_env())
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("kyc doctor: the process environment over the ./scripts/dev stack running as")
    assert "; backend local; every check answers within 5 s" in lines[0]
    assert all(line.startswith("ok ") for line in lines[1:-1])
    assert lines[-1] == f"no problem found ({len(lines) - 2} ok, 0 skipped)"


@pytest.fixture
def doubles_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevStack]:
    """``./scripts/dev --aliyun-doubles``: the functions on the aliyun backend over the Tablestore, OSS and MNS
    doubles, laid out from template.yml and configured from s.yaml."""
    for name in (*STACK_VARIABLES, *STORAGE_VARIABLES, "CLOUDAUTH_REGION", "CLOUDAUTH_PRODUCT_CODE",
                 "CLOUDAUTH_PRODUCTS", "KYC_SANDBOX_PORT"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("KYC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KYC_LOG_LEVEL", "WARNING")
    dev = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05,
                             aliyun_doubles=True, doubles_port=0))
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


def test_doctor_passes_against_the_stack_on_the_aliyun_doubles(doubles_stack: DevStack) -> None:
    code, out, _ = doctor(dev_env(), "--json")
    checks = findings(out)
    assert code == 0, out
    assert {"storage.table", "storage.bucket", "storage.queue.recheck", "storage.queue.notify",
            "storage.queue.deadletter"} <= set(checks)
    assert {f["status"] for items in checks.values() for f in items} == {"ok"}


def test_the_doubles_stack_env_file_is_all_a_fresh_shell_needs(doubles_stack: DevStack) -> None:
    fresh = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_"))}
    env_file = doubles_stack.data_dir / ENV_FILE
    code, out, _ = doctor(fresh, "--env-file", str(env_file))
    assert code == 0, out
    assert f"the process environment with {env_file}; backend aliyun" in out.splitlines()[0]


def test_a_missing_queue_of_the_doubles_stack_is_found(doubles_stack: DevStack) -> None:
    code, out, _ = doctor(dev_env(KYC_NOTIFY_QUEUE="kyc-notify-renamed"), "--json")
    assert code == 1 and only(out, "storage.queue.notify")["status"] == "problem"


# --- credentials --------------------------------------------------------------------------------------------


def test_a_wrong_secret_fails_naming_the_credentials(stack: DevStack) -> None:
    secret = "Wr0ng-secret-" + "q" * 24
    code, out, _ = doctor(dev_env(ALIBABA_CLOUD_ACCESS_KEY_SECRET=secret), "--json")
    assert code == 1
    finding = only(out, "vendor.credentials")
    assert finding["status"] == "problem" and "SignatureDoesNotMatch" in finding["detail"]
    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in finding["fix"]
    assert secret not in out
    others = {check for check, items in findings(out).items() if any(f["status"] != "ok" for f in items)}
    assert others == {"vendor.credentials"}


def test_an_unknown_access_key_is_named(stack: DevStack) -> None:
    code, out, _ = doctor(dev_env(ALIBABA_CLOUD_ACCESS_KEY_ID="LTAI-not-a-key"), "--json")
    finding = only(out, "vendor.credentials")
    assert code == 1 and "InvalidAccessKeyId.NotFound" in finding["detail"]
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in finding["fix"]


@pytest.mark.parametrize(
    ("code", "fix_says"),
    [
        ("Forbidden.RAMUserAccessDenied", "AliyunAntCloudAuthFullAccess"),
        ("Forbidden.RAMUserAccessDenied", "antcloudauth:CheckResult"),
        ("Forbidden.AccountAccessDenied", "activate"),
        ("Forbidden.AccountAccessDenied", "arrears"),
        ("InvalidTimeStamp.Expired", "clock"),
        ("InvalidSecurityToken.MismatchWithAccessKey", "ALIBABA_CLOUD_SECURITY_TOKEN"),
    ],
)
def test_each_refusal_of_the_caller_names_its_fix(stack: DevStack, code: str, fix_says: str) -> None:
    assert stack.sandbox is not None
    plan = {"operations": {"CheckResult": {"sequence": [code]}}}
    assert control(stack.sandbox, "POST", "faults", plan).status == 200
    status, out, _ = doctor(dev_env(), "--json")
    finding = only(out, "vendor.credentials")
    assert status == 1 and finding["status"] == "problem" and code in finding["detail"]
    assert fix_says in finding["fix"]


def test_throttling_is_a_problem_that_says_nothing_about_the_credentials(stack: DevStack) -> None:
    assert stack.sandbox is not None
    control(stack.sandbox, "POST", "faults", {"operations": {"CheckResult": {"sequence": ["Throttling.Api"]}}})
    _, out, _ = doctor(dev_env(), "--json")
    finding = only(out, "vendor.credentials")
    assert finding["status"] == "problem" and "says nothing about the credentials" in finding["detail"]


# --- product, endpoint, public URL, webhooks, data directory -------------------------------------------------


def test_an_impossible_product_region_pair_names_both_and_where_it_works(stack: DevStack) -> None:
    code, out, _ = doctor(dev_env(CLOUDAUTH_REGION="ap-southeast-1", CLOUDAUTH_PRODUCT_CODE="eKYC",
                                  CLOUDAUTH_PRODUCTS="eKYC,eKYC_PRO"), "--json")
    ekyc, ekyc_pro = findings(out)["product"]  # one finding per product of CLOUDAUTH_PRODUCTS
    assert code == 1 and ekyc["status"] == "problem" and ekyc_pro["status"] == "ok"
    assert "eKYC is not offered in ap-southeast-1" in ekyc["detail"] and "CLOUDAUTH_PRODUCTS" in ekyc["detail"]
    assert "cn-hongkong" in ekyc["fix"] and "eKYC_PRO" in ekyc["fix"]  # where it works; what Singapore offers
    for function in ("initializer", "result_fetcher", "notifier", "sweeper"):  # every function refuses to start
        assert only(out, f"config.{function}")["status"] == "problem"


def test_an_endpoint_that_never_answers_is_cut_at_the_deadline(stack: DevStack) -> None:
    silent = DrippingServer(b"", 0)
    try:
        base = silent.url.rsplit("/", 1)[0]
        code, out, _ = doctor(dev_env(CLOUDAUTH_ENDPOINT=base), "--json", "--timeout", "0.5")
    finally:
        silent.stop()
    assert code == 1
    assert only(out, "vendor.endpoint")["status"] == "problem"
    assert only(out, "vendor.credentials")["status"] == "skipped"


def test_an_endpoint_nobody_listens_on_is_a_problem(stack: DevStack, free_port: int) -> None:
    code, out, _ = doctor(dev_env(CLOUDAUTH_ENDPOINT=f"http://127.0.0.1:{free_port}"), "--json")
    finding = only(out, "vendor.endpoint")
    assert code == 1 and finding["detail"].endswith(": connection refused")


def test_a_public_url_that_does_not_reach_result_fetcher_is_a_problem(stack: DevStack) -> None:
    assert stack.gateway is not None
    code, out, _ = doctor(dev_env(KYC_PUBLIC_URL=f"{stack.gateway.url}/elsewhere"), "--json")
    finding = only(out, "public-url")
    assert code == 1 and "not as result_fetcher does" in finding["detail"]
    assert "docs/deploy.md, 4" in finding["fix"]


def test_a_public_url_nobody_answers_is_a_problem(stack: DevStack, free_port: int) -> None:
    code, out, _ = doctor(dev_env(KYC_PUBLIC_URL=f"http://127.0.0.1:{free_port}"), "--json")
    assert code == 1 and only(out, "public-url")["detail"].endswith(": connection refused")


class CountingReceiver:
    """A webhook subscriber on loopback that counts every request it gets."""

    def __init__(self) -> None:
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.requests += 1
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kyc?token=hook-query-token-123"


@pytest.fixture
def receiver() -> Iterator[CountingReceiver]:
    counting = CountingReceiver()
    yield counting
    counting.server.shutdown()


def test_a_private_subscriber_is_refused_by_the_ssrf_guard_and_never_called(
    stack: DevStack, receiver: CountingReceiver
) -> None:
    hooks = jsonutil.dumps_str([{"url": receiver.url, "secret": HOOK_SECRET}])
    code, out, _ = doctor(dev_env(KYC_WEBHOOKS=hooks, KYC_WEBHOOK_ALLOW_PRIVATE="N"), "--json")
    finding = only(out, "webhook 1/1")
    assert code == 1 and "private" in finding["detail"] and "KYC_WEBHOOK_ALLOW_PRIVATE" in finding["fix"]
    assert receiver.requests == 0


def test_an_allowed_subscriber_passes_and_is_still_never_called(stack: DevStack, receiver: CountingReceiver) -> None:
    hooks = jsonutil.dumps_str([{"url": receiver.url, "secret": HOOK_SECRET}])
    code, out, _ = doctor(dev_env(KYC_WEBHOOKS=hooks), "--json")
    assert code == 0 and "nothing was sent" in only(out, "webhook 1/1")["detail"]
    assert receiver.requests == 0
    assert "hook-query-token-123" not in out and "/hooks/kyc" not in out  # printed as scheme://host:port only


def test_a_subscriber_that_does_not_resolve_is_a_problem(stack: DevStack) -> None:
    hooks = jsonutil.dumps_str([{"url": "https://no-such-host.invalid/kyc", "secret": HOOK_SECRET}])
    code, out, _ = doctor(dev_env(KYC_WEBHOOKS=hooks), "--json")
    assert code == 1 and "does not resolve" in only(out, "webhook 1/1")["detail"]


def test_a_data_directory_that_is_a_file_is_a_problem(stack: DevStack, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    code, out, _ = doctor(dev_env(KYC_DATA_DIR=str(not_a_dir)), "--json")
    assert code == 1 and "is not a directory" in only(out, "storage.data-dir")["detail"]


# --- nothing secret is ever printed --------------------------------------------------------------------------


SECRETS = {
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "S3cr3t-access-key-secret-4f9a1c",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "CAIS-sts-token-value-7d2e90b1aa",
    "KYC_JWT_SECRET": "jwt-secret-value-" + "k" * 32,
    "KYC_JWT_PREVIOUS_SECRETS": "old-jwt-secret-" + "o" * 32,
    "KYC_USER_ID_PEPPER": "pepper-value-" + "p" * 24,
}


@pytest.mark.parametrize("broken", [None, "KYC_JWT_SECRET", "KYC_BACKEND", "CLOUDAUTH_REGION"])
def test_no_secret_is_printed_whatever_passes_or_fails(stack: DevStack, broken: str | None) -> None:
    env = dev_env(**SECRETS)
    env["KYC_PUBLIC_URL"] = env["KYC_PUBLIC_URL"].replace("://", "://user:url-password-5566@") + "/?t=url-token-7788"
    env["KYC_WEBHOOKS"] = jsonutil.dumps_str(
        [{"url": "http://hook:hook-password-9911@127.0.0.1:9/p/hook-path-token-2233", "secret": HOOK_SECRET}])
    if broken == "KYC_JWT_SECRET":
        env[broken] = "short-jwt-secret"  # refused: too short
    elif broken == "KYC_BACKEND":
        env[broken] = "aliyun"  # every aliyun variable missing
    elif broken == "CLOUDAUTH_REGION":
        env[broken] = "ap-southeast-5"
    for as_json in ((), ("--json",)):
        _, out, err = doctor(env, *as_json)
        printed = out + err
        for value in [*SECRETS.values(), "short-jwt-secret", HOOK_SECRET, "url-password-5566", "url-token-7788",
                      "hook-password-9911", "hook-path-token-2233"]:
            assert value not in printed, value


def test_a_usage_error_names_the_env_file_line_not_its_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("KYC_JWT_SECRET=fine\nthis-is-a-secret-value-without-a-name\n")
    code, _, err = doctor({}, "--env-file", str(bad))
    assert code == 2 and "line 2" in err and "this-is-a-secret" not in err


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a deployment's variables file while a local stack runs ------------------------------------------------

DEPLOYMENT = """\
export KYC_BACKEND=aliyun
export ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI5tDeploymentKeyId0001
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=deployment-secret-0123456789abcdef
export KYC_TABLESTORE_ENDPOINT=https://kyc-prod.cn-hongkong.ots.aliyuncs.com
export KYC_TABLESTORE_INSTANCE=kyc-prod
export KYC_OSS_REGION=cn-hongkong
export KYC_OSS_BUCKET=kyc-results-prod
export KYC_MNS_ENDPOINT=https://1234567890.mns.cn-hongkong.aliyuncs.com
export KYC_PUBLIC_URL=https://kyc.merchant.example
"""


def test_doctor_from_s_yaml_takes_nothing_from_a_running_local_stack(stack: DevStack, tmp_path: Path) -> None:
    """s deploy reads the shell: a KYC_JWT_SECRET not exported there must be missing for the check, not filled in
    from the running ./scripts/dev (found by an operator's rehearsal: the check passed a shell that would deploy an
    initializer unable to start)."""
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_"))}
    shell["KYC_DATA_DIR"] = os.environ["KYC_DATA_DIR"]
    ctx = Context(env=resolve_env(shell), stdout=io.StringIO(), stderr=io.StringIO())
    args = kyc.build_parser().parse_args(["doctor", "--from-s-yaml", "--stack-output", "BucketName=kyc-results-1"])

    functions = _inputs(args, ctx).functions

    initializer = functions["initializer"]
    assert not initializer.get("KYC_JWT_SECRET") and not initializer.get("KYC_USER_ID_PEPPER"), {
        name: initializer.get(name) and "<from the stack>" for name in ("KYC_JWT_SECRET", "KYC_USER_ID_PEPPER")}


def test_doctor_with_a_deployment_s_env_file_takes_nothing_from_a_running_local_stack(
    stack: DevStack, tmp_path: Path
) -> None:
    """A deployment's variables file chooses the aliyun backend: the check of a deployment must not test its key
    against the local sandbox, or the local demo receiver for its subscribers."""
    env_file = tmp_path / "prod.env"
    env_file.write_text(DEPLOYMENT)
    # A fresh shell in the checkout (the stack runs in its data directory, as ./scripts/dev does by default).
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_"))}
    shell["KYC_DATA_DIR"] = os.environ["KYC_DATA_DIR"]
    ctx = Context(env=resolve_env(shell), stdout=io.StringIO(), stderr=io.StringIO())
    args = kyc.build_parser().parse_args(["doctor", "--env-file", str(env_file)])

    checked = _inputs(args, ctx).env

    from_stack = {name: checked[name] for name in ("CLOUDAUTH_ENDPOINT", "KYC_USER_ID_PEPPER", "KYC_WEBHOOKS",
                                                    "KYC_JWT_SECRET") if name in checked}  # fmt: skip
    assert sorted(from_stack) == [], (
        f"the deployment's doctor run checks the local stack's {sorted(from_stack)} (CLOUDAUTH_ENDPOINT "
        f"{from_stack.get('CLOUDAUTH_ENDPOINT')})"
    )
