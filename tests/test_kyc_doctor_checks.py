"""``kyc doctor``'s parts without the local stack: where its environment comes from (env file, s.yaml with stack
outputs), the deadline around each check, the vendor checks that need no vendor, TLS, and the fix for each code."""

from __future__ import annotations

import io
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from shared import jsonutil
from shared.cloudauth import CloudAuthError, ParameterError, TransactionIdInvalid
from shared.cloudauth.errors import TransportError
from shared.storage import StorageSettings
from tools.deployment import S_YAML, function_folders
from tools.devstack.aliyun import write_env_file
from tools.ops import kyc
from tools.ops.doctor import config, environment, reach, report, storage, vendor
from tools.ops.doctor.report import NO_STACK_FIX, Options, Status, run_bounded

HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# --- the environment ------------------------------------------------------------------------------------------


def test_the_env_file_of_the_doubles_stack_reads_back_exactly(tmp_path: Path) -> None:
    values = {"KYC_WEBHOOKS": '[{"url": "http://127.0.0.1:1/x", "secret": "whsec_a b"}]', "KYC_X": "it's $HOME"}
    path = write_env_file(tmp_path / "aliyun-doubles.env", values, with_keys=True)
    assert environment.read_env_file(path) == values


def test_the_env_file_takes_export_comments_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("# comment\n\nexport A=1\nB='two words'  # trailing\nC=\"3\"\n")
    assert environment.read_env_file(path) == {"A": "1", "B": "two words", "C": "3"}


def test_an_env_file_that_cannot_be_read_is_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "aliyun-doubles.env"
    with pytest.raises(environment.InputError, match=r"aliyun-doubles\.env"):
        environment.read_env_file(missing)


def test_a_stack_outputs_file_that_cannot_be_read_is_named_and_not_called_json(tmp_path: Path) -> None:
    with pytest.raises(environment.InputError, match=r"stack\.json' cannot be read \(FileNotFoundError\)"):
        environment.read_outputs(tmp_path / "stack.json", [])


def test_the_env_file_goes_on_top_of_the_process_environment(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("KYC_BACKEND=local\n")
    inputs = environment.from_process({"KYC_BACKEND": "aliyun", "KYC_REGION": "ap-southeast-1"}, path)
    assert inputs.env["KYC_BACKEND"] == "local" and inputs.fc_region == ("ap-southeast-1", "KYC_REGION")


def _exported(**extra: str) -> dict[str, str]:
    return {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-operator",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "operator-secret-value-1",
        "KYC_PUBLIC_URL": "https://kyc.example.com",
        "KYC_JWT_SECRET": "j" * 48,
        "KYC_USER_ID_PEPPER": "p" * 32,
        "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
        "KYC_CORS_ORIGINS": "https://shop.example.com",
        "KYC_WEBHOOKS": f'[{{"url": "https://hooks.example.com/kyc", "secret": "{HOOK_SECRET}"}}]',
        **extra,
    }


OUTPUTS = {
    "OtsEndpoint": "https://kyc-ekyc.cn-hongkong.ots.aliyuncs.com", "OtsInstanceName": "kyc-ekyc",
    "OtsTableName": "kyc_transactions", "BucketName": "kyc-results-1", "ResultsPrefix": "",
    "MnsEndpoint": "https://1234567890123456.mns.cn-hongkong.aliyuncs.com", "RecheckQueueName": "kyc-recheck",
    "NotifyQueueName": "kyc-notify", "DeadletterQueueName": "kyc-deadletter", "RetentionDays": "90",
    "BucketVersioning": "false", "KmsKeyId": "",
    "DeadletterQueueArn": "acs:mns:cn-hongkong:1234567890123456:/queues/kyc-deadletter",
}


def test_s_yaml_gives_each_function_its_own_environment_with_the_deployments_defaults() -> None:
    inputs = environment.from_s_yaml(_exported(), OUTPUTS)
    assert inputs.notes == ()
    assert inputs.fc_region == ("cn-hongkong", "s.yaml vars.region")
    assert inputs.functions["result_fetcher"]["KYC_DELETE_VENDOR_COPY"] == "Y"  # s.yaml's default, not the code's
    assert "KYC_WEBHOOKS" in inputs.functions["notifier"] and "KYC_WEBHOOKS" not in inputs.functions["initializer"]
    assert inputs.functions["sweeper"]["KYC_OSS_BUCKET"] == "kyc-results-1"
    assert all(f["ALIBABA_CLOUD_ACCESS_KEY_ID"] == "LTAI-operator" for f in inputs.functions.values())


@pytest.mark.parametrize("function", function_folders())
def test_every_function_starts_on_what_s_yaml_gives_it(function: str) -> None:
    inputs = environment.from_s_yaml(_exported(), OUTPUTS)
    finding = config.check_initialize(function, inputs.functions[function], inputs.missing_outputs)
    assert finding.status is Status.OK, finding


def test_missing_stack_outputs_are_named_once_and_explain_the_config_problems() -> None:
    inputs = environment.from_s_yaml(_exported(), {k: v for k, v in OUTPUTS.items() if k != "BucketName"})
    [note] = inputs.notes
    assert note.status is Status.PROBLEM and "BucketName (KYC_OSS_BUCKET)" in note.detail
    assert note.detail.startswith("no value for the stack outputs")  # given a file without them, not "not given"
    finding = config.check_initialize("result_fetcher", inputs.functions["result_fetcher"], inputs.missing_outputs)
    assert finding.status is Status.PROBLEM and "stack output BucketName" in finding.detail


def test_a_shell_without_an_access_key_is_told_to_export_the_operators_not_to_redeploy() -> None:
    """FC gives the functions their role's keys: s.yaml sets none, and the doctor runs with the operator's (found
    by a newcomer: the fix said "set ALIBABA_CLOUD_ACCESS_KEY_ID ..., then s deploy", which cannot help)."""
    exported = {k: v for k, v in _exported().items() if not k.startswith("ALIBABA_CLOUD_")}
    inputs = environment.from_s_yaml(exported, OUTPUTS)
    finding = config.check_initialize("initializer", inputs.functions["initializer"], inputs.missing_outputs)
    assert finding.status is Status.PROBLEM
    assert "the doctor needs yours: export ALIBABA_CLOUD_ACCESS_KEY_ID" in finding.fix and "s deploy" not in finding.fix


def test_an_exported_variable_stands_in_for_its_missing_output() -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != "BucketName"}
    inputs = environment.from_s_yaml(_exported(KYC_OSS_BUCKET="kyc-results-exported"), outputs)
    assert inputs.notes == () and inputs.env["KYC_OSS_BUCKET"] == "kyc-results-exported"


@pytest.mark.parametrize("shape", ["flat", "ros"])
def test_stack_outputs_are_read_flat_or_as_ros_outputs(tmp_path: Path, shape: str) -> None:
    data: Any = OUTPUTS if shape == "flat" else {"Outputs": [{"OutputKey": k, "OutputValue": v, "Description": ""}
                                                             for k, v in OUTPUTS.items()]}
    path = tmp_path / "outputs.json"
    path.write_text(jsonutil.dumps_str(data))
    outputs = environment.read_outputs(path, ["BucketName=from-the-command-line"])
    assert outputs == {**OUTPUTS, "BucketName": "from-the-command-line"}


def test_functions_given_different_values_of_one_variable_are_a_problem(tmp_path: Path) -> None:
    text = S_YAML.read_text().replace(
        "KYC_LOG_LEVEL: ${env('KYC_LOG_LEVEL', 'INFO')}", "KYC_LOG_LEVEL: ${env('KYC_LOG_LEVEL', 'DEBUG')}", 1)
    s_yaml = tmp_path / "s.yaml"
    s_yaml.write_text(text)
    inputs = environment.from_s_yaml(_exported(), OUTPUTS, s_yaml)
    assert [n.detail for n in inputs.notes] == ["s.yaml gives the functions different values of KYC_LOG_LEVEL"]


def test_outputs_without_s_yaml_are_a_usage_error() -> None:
    err = io.StringIO()
    code = kyc.main(["doctor", "--stack-output", "A=b"], env={}, stdout=io.StringIO(), stderr=err)
    assert code == 2 and "--from-s-yaml" in err.getvalue()


# --- deadlines ------------------------------------------------------------------------------------------------


def test_a_check_that_does_not_answer_is_reported_at_its_deadline() -> None:
    release = threading.Event()
    try:
        [finding] = run_bounded("slow", lambda: release.wait(30) and [], 0.2, on_timeout="look at the network")
    finally:
        release.set()
    assert finding.status is Status.PROBLEM and finding.detail == "no answer within 0.2 s"
    assert finding.fix == "look at the network"


def test_a_check_that_raises_is_a_problem_reported_by_type_only() -> None:
    def broken() -> list[Any]:
        raise ValueError("secret-bearing message 9f8e7d")

    [finding] = run_bounded("broken", broken, 1.0, on_timeout="-")
    assert finding.status is Status.PROBLEM and "ValueError" in finding.detail
    assert "9f8e7d" not in finding.line()


# --- product, region, fixes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "region", "fix_names"),
    [
        ("FACE_LIVENESS_PRO", "ap-southeast-3", "cn-hongkong, ap-southeast-1, ap-southeast-5"),
        ("eKYC", "ap-southeast-5", "eKYC_PRO, FACE_LIVENESS_PRO"),
        ("eKYC_MIN", "cn-hongkong", "eKYC, eKYC_PRO, FACE_LIVENESS_PRO"),
    ],
)
def test_an_impossible_product_says_what_would_work(product: str, region: str, fix_names: str) -> None:
    [finding] = vendor.check_products({"CLOUDAUTH_PRODUCT_CODE": product, "CLOUDAUTH_REGION": region})
    assert finding.status is Status.PROBLEM and product in finding.detail and fix_names in (finding.fix or "")


def test_a_region_the_vendor_does_not_serve_is_named_as_such_with_the_regions_that_would_work() -> None:
    [finding] = vendor.check_products({"CLOUDAUTH_PRODUCT_CODE": "eKYC", "CLOUDAUTH_REGION": "mars"})
    fix = finding.fix or ""
    assert fix.startswith("mars is not a region where the vendor offers a product this project runs: ")
    assert "export CLOUDAUTH_REGION=<one of cn-hongkong>" in fix and "(no product" not in fix


@pytest.mark.parametrize(
    ("backend", "says", "never_says"),
    [
        ("aliyun", ["and s deploy", "activate the product for that region"], ["./scripts/dev"]),
        ("local", ["and start or restart ./scripts/dev"], ["s deploy", "activate"]),
        ("", ["and start or restart ./scripts/dev"], ["s deploy", "activate"]),
    ],
)
def test_a_product_fix_names_the_step_that_applies_to_the_backend_checked(
    backend: str, says: list[str], never_says: list[str]
) -> None:
    env = {"CLOUDAUTH_PRODUCT_CODE": "eKYC", "CLOUDAUTH_REGION": "ap-southeast-5", "KYC_BACKEND": backend}
    [finding] = vendor.check_products(env)
    fix = finding.fix or ""
    assert all(text in fix for text in says) and not any(text in fix for text in never_says), fix


@pytest.mark.parametrize(("product", "region"), [(p.code, r) for p in vendor.products.PRODUCTS.values()
                                                 if p.supported for r in p.regions or ()])
def test_every_documented_supported_pair_passes(product: str, region: str) -> None:
    [finding] = vendor.check_products({"CLOUDAUTH_PRODUCT_CODE": product, "CLOUDAUTH_REGION": region})
    assert finding.status is Status.OK


def test_the_vpc_endpoint_needs_the_functions_in_the_vendors_region() -> None:
    env = {"CLOUDAUTH_USE_VPC_ENDPOINT": "Y", "CLOUDAUTH_REGION": "cn-hongkong"}
    finding = vendor.check_region(env, ("ap-southeast-1", "KYC_REGION"))
    assert finding.status is Status.PROBLEM and "ap-southeast-1" in finding.detail
    assert "KYC_REGION=cn-hongkong" in (finding.fix or "") and "CLOUDAUTH_USE_VPC_ENDPOINT=N" in (finding.fix or "")
    assert vendor.check_region(env, ("cn-hongkong", "KYC_REGION")).status is Status.OK
    assert vendor.check_region(env, None).status is Status.SKIPPED
    assert vendor.check_region({**env, "CLOUDAUTH_USE_VPC_ENDPOINT": "N"}, ("ap-southeast-1", "x")).status is Status.OK


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("InvalidAccessKeyId.NotFound", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ("InvalidAccessKeyId.Inactive", "disabled"),
        ("SignatureDoesNotMatch", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        ("InvalidSecurityToken.Expired", "ALIBABA_CLOUD_SECURITY_TOKEN"),
        ("MissingSecurityToken", "ALIBABA_CLOUD_SECURITY_TOKEN"),
        ("InvalidTimeStamp.Expired", "clock"),
        ("Forbidden.RAMUserAccessDenied", "antcloudauth:Initialize"),
        ("Forbidden.AccountAccessDenied", "not activated for this account in ap-southeast-1"),
        ("Forbidden.SomethingNew", "refused this account"),
        ("SomethingElse", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
    ],
)
def test_each_credential_code_has_its_fix(code: str, says: str) -> None:
    assert says in vendor.credential_fix(code, "ap-southeast-1")


# --- TLS: the vendor endpoint and the public URL ----------------------------------------------------------------


class TlsServer:
    """A loopback https server with a certificate for 127.0.0.1; a GET under ``callback_route`` answers as
    result_fetcher does to a callback naming no verification."""

    def __init__(self, directory: Path, callback_route: str = "/callback/") -> None:
        self.cert, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60,
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = jsonutil.dumps({"error": {"code": "InvalidParameter", "message": "merchantBizId"}})
                self.send_response(400 if self.path.startswith(callback_route) else 404)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def trusting(self) -> Options:
        return Options(timeout=5, tls_context=lambda: ssl.create_default_context(cafile=str(self.cert)))


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    server = TlsServer(tmp_path)
    yield server
    server.httpd.shutdown()


def test_an_endpoint_with_a_verified_certificate_answers_tls(tls_server: TlsServer) -> None:
    finding = vendor.check_endpoint({"CLOUDAUTH_ENDPOINT": tls_server.url}, tls_server.trusting())
    assert finding.status is Status.OK and "certificate verified" in finding.detail


def test_an_endpoint_whose_certificate_does_not_verify_is_a_problem(tls_server: TlsServer) -> None:
    finding = vendor.check_endpoint({"CLOUDAUTH_ENDPOINT": tls_server.url}, Options(timeout=5))
    assert finding.status is Status.PROBLEM and "does not verify" in finding.detail


def test_an_https_public_url_that_reaches_result_fetcher_passes(tls_server: TlsServer) -> None:
    env = {"KYC_BACKEND": "aliyun", "KYC_PUBLIC_URL": tls_server.url}
    assert reach.check_public_url(env, tls_server.trusting()).status is Status.OK
    assert reach.check_public_url(env, Options(timeout=5)).status is Status.PROBLEM  # untrusted certificate


def test_a_custom_domain_that_routes_only_the_earlier_callback_path_is_a_problem(tmp_path: Path) -> None:
    """s.yaml's custom-domain example once routed ``/callback`` alone: callbacks to ``/callback/<id>`` never arrive."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    server = TlsServer(tmp_path, callback_route="/callback?")
    try:
        finding = reach.check_public_url({"KYC_BACKEND": "aliyun", "KYC_PUBLIC_URL": server.url}, server.trusting())
    finally:
        server.httpd.shutdown()
    assert finding.status is Status.PROBLEM and "/callback/-" in finding.detail and "/callback/*" in finding.fix


def test_the_aliyun_backend_refuses_a_plain_http_public_url() -> None:
    finding = reach.check_public_url({"KYC_BACKEND": "aliyun", "KYC_PUBLIC_URL": "http://kyc.example.com"},
                                     Options(timeout=1))
    assert finding.status is Status.PROBLEM and "not https" in finding.detail


@pytest.mark.timeout(60)  # a bound against hanging, not a performance claim
def test_the_whole_run_keeps_to_its_deadlines(tmp_path: Path) -> None:
    """Nothing listens anywhere: every network check fails fast or at its deadline, and the run ends."""
    env = {"KYC_DATA_DIR": str(tmp_path), "CLOUDAUTH_ENDPOINT": "http://127.0.0.1:9",
           "ALIBABA_CLOUD_ACCESS_KEY_ID": "a", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "b" * 8,
           "KYC_PUBLIC_URL": "http://127.0.0.1:9"}
    out = io.StringIO()
    code = kyc.main(["doctor", "--json", "--timeout", "1"], env=env, stdout=out, stderr=io.StringIO())
    statuses = {jsonutil.loads(line)["check"]: jsonutil.loads(line)["status"] for line in out.getvalue().splitlines()}
    assert code == 1 and statuses["vendor.endpoint"] == "problem" and statuses["public-url"] == "problem"


# --- a refused connection on this machine -----------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NO_STACK = Options(timeout=2, no_local_stack=True)


def test_a_refused_vendor_endpoint_on_this_machine_with_no_stack_says_to_start_one(closed_port: int) -> None:
    finding = vendor.check_endpoint({"CLOUDAUTH_ENDPOINT": f"http://127.0.0.1:{closed_port}"}, NO_STACK)
    assert (finding.detail, finding.fix) == (f"http://127.0.0.1:{closed_port}: connection refused", NO_STACK_FIX)


def test_a_refused_public_url_on_this_machine_with_no_stack_says_to_start_one(closed_port: int) -> None:
    finding = reach.check_public_url({"KYC_PUBLIC_URL": f"http://127.0.0.1:{closed_port}"}, NO_STACK)
    assert (finding.detail, finding.fix) == (f"http://127.0.0.1:{closed_port}: connection refused", NO_STACK_FIX)


def test_a_refused_queue_on_this_machine_with_no_stack_says_to_start_one(closed_port: int) -> None:
    settings = StorageSettings.from_env({
        "KYC_BACKEND": "aliyun", "ALIBABA_CLOUD_ACCESS_KEY_ID": "a", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "b" * 8,
        "KYC_TABLESTORE_ENDPOINT": "http://127.0.0.1:9", "KYC_TABLESTORE_INSTANCE": "i",
        "KYC_OSS_REGION": "cn-hongkong", "KYC_OSS_BUCKET": "b", "KYC_MNS_ENDPOINT": f"http://127.0.0.1:{closed_port}"})
    finding = storage.check_queue(settings, NO_STACK, "notify")
    assert finding.detail == f"queue kyc-notify at http://127.0.0.1:{closed_port}: connection refused"
    assert finding.fix == NO_STACK_FIX


def test_with_a_stack_running_a_refused_port_keeps_the_check_s_own_fix(closed_port: int) -> None:
    finding = vendor.check_endpoint({"CLOUDAUTH_ENDPOINT": f"http://127.0.0.1:{closed_port}"}, Options(timeout=2))
    assert finding.detail.endswith("connection refused") and finding.fix and "start ./scripts/dev" not in finding.fix


def test_the_doctor_with_no_stack_running_says_why_each_local_port_refuses(tmp_path: Path, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    env = {"KYC_DATA_DIR": str(tmp_path), "CLOUDAUTH_ENDPOINT": url, "KYC_PUBLIC_URL": url}
    out = io.StringIO()
    kyc.main(["doctor", "--timeout", "2"], env=env, stdout=out, stderr=io.StringIO())
    refused = [line for line in out.getvalue().splitlines() if "refused" in line]
    assert [line.split()[1] for line in refused] == ["vendor.endpoint", "public-url"]
    assert all(line.endswith(f"{url}: connection refused — fix: {NO_STACK_FIX}") for line in refused)


# --- found by mutating tools/ops/doctor ---------------------------------------------------------------------------


def test_a_deadline_over_five_minutes_is_bad_usage(tmp_path: Path) -> None:
    err = io.StringIO()
    code = kyc.main(["doctor", "--timeout", "301"], env={"KYC_DATA_DIR": str(tmp_path)}, stdout=io.StringIO(),
                    stderr=err)
    assert code == 2 and "between 0.1 and 300 seconds" in err.getvalue().splitlines()[-1]  # argparse's message


def _every_check_passes(monkeypatch: pytest.MonkeyPatch, *, but_webhooks: bool = False) -> None:
    """Each check of a run answers ok (the webhooks: none, unless ``but_webhooks``): its verdict is the rest's."""
    checks = [(vendor, "check_products"), (vendor, "check_region"), (vendor, "check_endpoint"),
              (vendor, "check_credentials"), (reach, "check_public_url"), (storage, "check_table"),
              (storage, "check_bucket"), (storage, "check_queue"), (storage, "check_data_dir"),
              (config, "check_initialize")]
    for module, name in checks:
        monkeypatch.setattr(module, name, lambda *args, _name=name, **kwargs: report.ok(_name, "fine"))
    if not but_webhooks:
        monkeypatch.setattr(reach, "webhook_checks", lambda *args, **kwargs: [])


def _doctor(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, str]]]:
    out = io.StringIO()
    code = kyc.main(["doctor", "--json", "--timeout", "2", *args], env={"KYC_DATA_DIR": str(tmp_path), **(env or {})},
                    stdout=out, stderr=io.StringIO())
    return code, [jsonutil.loads(line) for line in out.getvalue().splitlines()]


def test_a_problem_found_while_reading_s_yaml_is_reported_and_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _every_check_passes(monkeypatch)
    pairs = [f"--stack-output={k}={v}" for k, v in OUTPUTS.items() if k != "BucketName"]
    code, found = _doctor(tmp_path, "--from-s-yaml", *pairs, env=_exported())
    assert found[0]["check"] == "environment" and found[0]["status"] == "problem"
    assert [f for f in found[1:] if f["status"] == "problem"] == []
    assert code == 1


def test_a_run_without_webhooks_says_nobody_is_notified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _every_check_passes(monkeypatch, but_webhooks=True)
    code, found = _doctor(tmp_path)
    assert code == 0
    assert {"check": "webhooks", "status": "skipped",
            "detail": "KYC_WEBHOOKS lists no subscriber: results are kept, nobody is notified"} in found


def test_a_local_stack_without_an_access_key_is_told_to_set_it_not_that_fc_gives_it(tmp_path: Path) -> None:
    env = {k: v for k, v in _exported(KYC_DATA_DIR=str(tmp_path)).items() if not k.startswith("ALIBABA_CLOUD_")}
    finding = config.check_initialize("initializer", env, {})
    assert finding.status is Status.PROBLEM and (finding.fix or "").startswith("set ALIBABA_CLOUD_ACCESS_KEY_ID")


def test_a_start_that_cannot_open_its_storage_is_a_problem_naming_the_storage_error(tmp_path: Path) -> None:
    from shared.storage.settings import TRANSACTIONS_FILE

    (tmp_path / TRANSACTIONS_FILE).write_bytes(b"this is not a database " * 100)
    finding = config.check_initialize("result_fetcher", _exported(KYC_DATA_DIR=str(tmp_path)), {})
    assert (finding.status, finding.detail) == (Status.PROBLEM, "initialize could not open storage (SqliteError)")
    assert finding.fix == "see the storage checks"


def test_a_start_that_fails_on_the_file_system_names_the_error_s_type_never_its_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    finding = config.check_initialize("result_fetcher", _exported(KYC_DATA_DIR=str(tmp_path / "a-file" / "data")), {})
    assert (finding.status, finding.detail) == (Status.PROBLEM, "initialize failed (NotADirectoryError)")


def test_every_printed_line_hides_a_registered_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "doctor-secret-" + "7" * 12
    report.register_secrets({"KYC_JWT_SECRET": secret})
    finding = report.problem("x", f"detail quoting {secret}", f"fix quoting {secret}")
    assert secret not in finding.line() and secret not in jsonutil.dumps_str(finding.as_dict())


@pytest.mark.parametrize("name", ["KYC_USER_ID_PEPPER", "kyc_jwt_secret", "KYC_WEBHOOKS"])
def test_the_values_of_secret_variables_are_registered_whatever_their_case(name: str) -> None:
    value = f"value-of-{name.lower()}-1234567"
    report.register_secrets({name: value})
    assert value not in report.problem("x", value, "-").line()


def test_each_item_of_a_secret_list_is_registered_on_its_own() -> None:
    report.register_secrets({"KYC_JWT_SECRETS": "first-secret-111111, second-secret-222222"})
    assert "second-secret-222222" not in report.problem("x", "only second-secret-222222", "-").line()


def test_the_summary_counts_one_problem_as_a_problem() -> None:
    found = [report.problem("a", "b", "c"), report.ok("d", "e"), report.skipped("f", "g")]
    assert report.summary(found) == "1 problem (1 ok, 1 skipped)"


def test_localhost_is_this_machine() -> None:
    finding = report.connection_refused("x", "http://localhost:9", "localhost", NO_STACK, "the check's own fix")
    assert finding.fix == NO_STACK_FIX


def test_a_refused_connection_elsewhere_keeps_the_check_s_own_fix() -> None:
    finding = report.connection_refused("x", "http://203.0.113.5:9", "203.0.113.5", NO_STACK, "the check's own fix")
    assert finding.fix == "the check's own fix"


def test_whether_a_port_refuses_is_asked_of_this_machine_only(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[Any] = []
    monkeypatch.setattr(report.socket, "create_connection", lambda *args, **kwargs: tried.append(args))
    assert report.refuses_connections("http://203.0.113.5:9/", 1.0) is False and tried == []


@pytest.mark.parametrize("line", ["A=1 B=2", "1A=x", "A-B=1"])
def test_an_env_file_line_that_is_not_one_name_and_its_value_is_refused(tmp_path: Path, line: str) -> None:
    path = tmp_path / "x.env"
    path.write_text(line + "\n")
    with pytest.raises(environment.InputError, match="line 1 is not NAME=value"):
        environment.read_env_file(path)


def test_the_functions_region_is_kyc_region_before_the_bucket_s() -> None:
    inputs = environment.from_process({"KYC_REGION": "ap-southeast-1", "KYC_OSS_REGION": "cn-hongkong"})
    assert inputs.fc_region == ("ap-southeast-1", "KYC_REGION")


def test_stack_outputs_that_are_objects_or_lists_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(jsonutil.dumps_str({"BucketName": "b", "Tags": {"a": "b"}, "Subnets": ["s1"]}))
    assert environment.read_outputs(path, []) == {"BucketName": "b"}


def test_a_ros_output_without_its_key_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(jsonutil.dumps_str({"Outputs": [{"OutputValue": "b"}]}))
    with pytest.raises(environment.InputError, match="OutputKey"):
        environment.read_outputs(path, [])


def test_a_stack_output_without_a_key_is_a_usage_error() -> None:
    with pytest.raises(environment.InputError, match="KEY=VALUE"):
        environment.read_outputs(None, [" =value"])


def test_functions_given_different_values_are_checked_with_the_first_read(tmp_path: Path) -> None:
    text = S_YAML.read_text().replace(
        "KYC_LOG_LEVEL: ${env('KYC_LOG_LEVEL', 'INFO')}", "KYC_LOG_LEVEL: ${env('KYC_LOG_LEVEL', 'DEBUG')}", 1)
    s_yaml = tmp_path / "s.yaml"
    s_yaml.write_text(text)
    inputs = environment.from_s_yaml(_exported(), OUTPUTS, s_yaml)
    first = next(f["KYC_LOG_LEVEL"] for f in inputs.functions.values() if "KYC_LOG_LEVEL" in f)
    assert inputs.env["KYC_LOG_LEVEL"] == first == "DEBUG"


def _answering(status: int, body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_public_url_answering_400_with_another_error_is_not_result_fetcher() -> None:
    for url in _answering(400, jsonutil.dumps({"error": {"code": "BadRequest"}})):
        finding = reach.check_public_url({"KYC_PUBLIC_URL": url}, Options(timeout=5))
        assert finding.status is Status.PROBLEM and "answers HTTP 400, not as result_fetcher does" in finding.detail


def test_a_public_url_that_accepts_and_never_answers_is_reported_at_its_deadline() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        finding = reach.check_public_url({"KYC_PUBLIC_URL": url}, Options(timeout=0.5))
    assert finding.detail == f"{url} did not answer within 0.5 s"


def test_a_local_stack_s_public_url_may_be_plain_http_to_any_host() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]  # "localhost" is a name: only the aliyun backend requires https for it
        finding = reach.check_public_url({"KYC_PUBLIC_URL": f"http://localhost:{port}"}, Options(timeout=0.5))
    assert finding.status is Status.PROBLEM and "not https" not in finding.detail


def test_no_subscriber_is_said_once_as_a_skipped_check() -> None:
    assert reach.webhook_checks({}, Options()) == [report.skipped(
        "webhooks", "KYC_WEBHOOKS lists no subscriber: results are kept, nobody is notified")]


def test_a_subscriber_passing_only_because_private_addresses_are_allowed_says_so() -> None:
    env = {"KYC_WEBHOOKS": jsonutil.dumps_str([{"url": "http://127.0.0.1:1/hook", "secret": HOOK_SECRET}]),
           "KYC_WEBHOOK_ALLOW_PRIVATE": "Y"}
    [(_, check)] = reach.webhook_checks(env, Options())  # type: ignore[misc]
    finding = check()
    assert isinstance(finding, report.Finding)
    assert finding.status is Status.OK and "(private addresses allowed: KYC_WEBHOOK_ALLOW_PRIVATE)" in finding.detail


@pytest.mark.parametrize("code", ["InvalidSecurityToken.Expired", "InvalidSecurityToken.Malformed"])
def test_a_refused_sts_token_is_a_credentials_problem_at_every_storage_service(code: str) -> None:
    from shared.storage import StorageError

    finding = storage._refused("storage.table", "table t", StorageError("x", code=code, status=400), "ots:ListTable",
                               "t", endpoint=None, options=Options())
    assert "refused the credentials" in finding.detail and "ALIBABA_CLOUD_SECURITY_TOKEN" in (finding.fix or "")


def test_a_storage_call_refused_with_403_names_the_permission_to_grant() -> None:
    from shared.storage import StorageError

    finding = storage._refused("storage.table", "table t", StorageError("x", code="NoPermission", status=403),
                               "ots:ListTable and ots:DescribeTable", "t", endpoint=None, options=Options())
    assert finding.fix == "grant ots:ListTable and ots:DescribeTable to the identity running the doctor (the " \
                          "functions do not need it)"


def test_a_data_directory_not_made_yet_passes_when_its_parent_is_writable(tmp_path: Path) -> None:
    finding = storage.check_data_dir(StorageSettings(backend="local", data_dir=tmp_path / "not-yet"))
    assert finding.status is Status.OK and "does not exist yet; the first start creates it" in finding.detail


def test_an_existing_data_directory_is_said_writable(tmp_path: Path) -> None:
    finding = storage.check_data_dir(StorageSettings(backend="local", data_dir=tmp_path))
    assert (finding.status, finding.detail) == (Status.OK, f"{tmp_path.resolve()} is writable")


class _Probe:
    """The vendor client of ``check_credentials``: its CheckResult raises ``answer``; the settings it was built with."""

    answer: BaseException | None = None
    built: ClassVar[list[Any]] = []

    def __init__(self, settings: Any) -> None:
        type(self).built.append(settings)

    def __enter__(self) -> _Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def check_result(self, merchant_biz_id: str, transaction_id: str) -> Any:
        if self.answer is not None:
            raise self.answer
        return {}


def _credentials(monkeypatch: pytest.MonkeyPatch, answer: BaseException, *, from_s_yaml: bool = False,
                 options: Options | None = None) -> report.Finding:
    monkeypatch.setattr(_Probe, "answer", answer)
    monkeypatch.setattr(_Probe, "built", [])
    monkeypatch.setattr(vendor, "CloudAuthClient", _Probe)
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-doctor", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "doctor-secret-1"}
    return vendor.check_credentials(env, options or Options(timeout=5), from_s_yaml=from_s_yaml)


def test_a_parameter_the_vendor_refuses_proves_it_accepted_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _credentials(monkeypatch, ParameterError("TransactionId is invalid", status=400,
                                                       code="InvalidParameter"))
    assert finding.status is Status.OK and "answered InvalidParameter" in finding.detail


def test_a_probe_our_own_client_refused_proves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _credentials(monkeypatch, ParameterError("TransactionId is invalid", code="InvalidParameter"))
    assert (finding.status, finding.detail) == (Status.PROBLEM, "the probe was refused before sending "
                                                                "(InvalidParameter)")


def test_a_vendor_that_does_not_answer_says_nothing_of_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _credentials(monkeypatch, TransportError("timed out", code="TransportError", maybe_sent=True))
    assert (finding.status, finding.detail, finding.fix) == (
        Status.PROBLEM, "no answer from the vendor (timed out)", "see vendor.endpoint")


def test_an_endpoint_that_does_not_serve_the_api_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _credentials(monkeypatch, CloudAuthError("no such action", status=404, code="InvalidAction.NotFound"))
    assert finding.status is Status.PROBLEM and finding.fix == "CLOUDAUTH_ENDPOINT does not serve cloudauth-intl " \
                                                              "2022-08-09"


def test_credentials_checked_from_s_yaml_are_said_to_be_the_operator_s(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _credentials(monkeypatch, TransactionIdInvalid("invalid", status=400), from_s_yaml=True)
    assert finding.status is Status.OK and "(your exported key; the functions use their role)" in finding.detail


def test_the_vendor_s_answer_is_told_with_its_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _credentials(monkeypatch, TransactionIdInvalid("invalid", status=400, request_id="RQ-1"))
    assert finding.detail.endswith("answered TransactionIdInvalid (RequestId RQ-1)")


def test_the_credentials_probe_keeps_to_the_check_s_deadline_and_tries_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _credentials(monkeypatch, TransactionIdInvalid("invalid", status=400), options=Options(timeout=0.5))
    (probe,) = _Probe.built
    assert (probe.connect_timeout, probe.read_timeout, probe.max_attempts) == (0.5, 0.5, 1)


def test_an_impossible_single_product_names_the_variable_it_came_from() -> None:
    [finding] = vendor.check_products({"CLOUDAUTH_PRODUCT_CODE": "eKYC_MIN", "CLOUDAUTH_REGION": "cn-hongkong"})
    assert "(CLOUDAUTH_PRODUCT_CODE, CLOUDAUTH_REGION cn-hongkong)" in finding.detail


def test_an_endpoint_named_outright_is_not_held_to_the_functions_region() -> None:
    env = {"CLOUDAUTH_ENDPOINT": "https://cloudauth.example", "CLOUDAUTH_REGION": "cn-hongkong"}
    finding = vendor.check_region(env, ("ap-southeast-1", "KYC_REGION"))  # not "its public endpoint": it names one
    assert finding.status is Status.OK and finding.detail.startswith("CLOUDAUTH_ENDPOINT names the endpoint")


def test_a_plain_http_endpoint_without_a_port_is_reached_on_port_80(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        tried.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(vendor.socket, "create_connection", refuse)
    vendor.check_endpoint({"CLOUDAUTH_ENDPOINT": "http://127.0.0.1"}, Options(timeout=2))
    assert [port for _, port in tried] == [80]


def test_a_vpc_endpoint_that_does_not_resolve_here_says_where_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    def unresolvable(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no such host")

    monkeypatch.setattr(vendor, "resolve_target", unresolvable)
    finding = vendor.check_endpoint({"CLOUDAUTH_USE_VPC_ENDPOINT": "Y", "CLOUDAUTH_REGION": "cn-hongkong"},
                                    Options(timeout=2))
    assert finding.status is Status.PROBLEM and "answers only inside a VPC of cn-hongkong" in (finding.fix or "")


def test_a_plain_http_endpoint_that_does_not_speak_http_is_a_problem() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"

        def banner() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

        threading.Thread(target=banner, daemon=True).start()
        finding = vendor.check_endpoint({"CLOUDAUTH_ENDPOINT": url}, Options(timeout=5))
    assert (finding.status, finding.detail) == (Status.PROBLEM, f"{url} accepts connections but does not answer HTTP")


def test_a_code_that_only_begins_like_a_known_one_gets_the_general_fix() -> None:
    assert vendor.credential_fix("SignatureDoesNotMatchYet", "cn-hongkong") == vendor.credential_fix("Unknown", "x")
