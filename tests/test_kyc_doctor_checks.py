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
from typing import Any

import pytest

from shared import jsonutil
from shared.storage import StorageSettings
from tools.deployment import S_YAML, function_folders
from tools.devstack.aliyun import write_env_file
from tools.ops import kyc
from tools.ops.doctor import config, environment, reach, storage, vendor
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
        ("local", ["and restart ./scripts/dev"], ["s deploy", "activate"]),
        ("", ["and restart ./scripts/dev"], ["s deploy", "activate"]),
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
