"""FC 3.0's InvokeFunction on the local gateway, driven by the official SDK ``alibabacloud-fc20230330`` (the oracle):
every function under its s.yaml name, sync and async, the log tail, function and API errors, signatures."""

from __future__ import annotations

import base64
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from alibabacloud_fc20230330 import models as fc_models
from alibabacloud_fc20230330.client import Client as Fc3Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

from shared import jsonutil
from shared.signing import Credentials, sign_acs3_request, utc_timestamp
from tests.test_fc_invoke import (
    EVENTS,
    complete,
    http_event,
    queue_event,
    row_status,
    stack,
    start_verification,
    verification_body,
)
from tools import fc3
from tools.deployment import deployed_functions
from tools.devstack.dev import DevStack
from tools.devstack.fc3_api import Fc3InvokeApi, log_tail
from tools.devstack.gateway import Gateway

__all__ = ["stack"]


def sdk(dev: DevStack, *, key_id: str | None = None, secret: str | None = None, token: str | None = None) -> Any:
    assert dev.gateway is not None
    config = Config(
        access_key_id=key_id or os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        access_key_secret=secret or os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        security_token=token,
        endpoint=f"127.0.0.1:{dev.gateway.port}",
        protocol="http",
        read_timeout=30000,
        connect_timeout=5000,
    )
    return Fc3Client(config)


def invoke(dev: DevStack, name: str, event: Any, *, invocation_type: str = "Sync", log: bool = False,
           qualifier: str | None = None, **keys: Any) -> Any:
    payload = event if isinstance(event, bytes) else jsonutil.dumps(event)
    request = fc_models.InvokeFunctionRequest(body=io.BytesIO(payload), qualifier=qualifier)
    headers = fc_models.InvokeFunctionHeaders(x_fc_invocation_type=invocation_type,
                                              x_fc_log_type="Tail" if log else None)
    return sdk(dev, **keys).invoke_function_with_options(name, request, headers, RuntimeOptions())


def body_json(response: Any) -> Any:
    return jsonutil.loads(response.body.read())


def api_error(dev: DevStack, name: str, event: Any = b"{}", **options: Any) -> ClientException:
    with pytest.raises(ClientException) as info:
        invoke(dev, name, event, **options)
    return info.value


@pytest.fixture
def fast_async(stack: DevStack) -> DevStack:
    assert stack.gateway is not None
    stack.gateway.fc3_api.retry_delays = (0.01, 0.01)
    return stack


# --- names -------------------------------------------------------------------------------------------------


def test_the_gateway_serves_every_function_under_its_s_yaml_name(stack: DevStack) -> None:
    assert stack.gateway is not None
    assert stack.gateway.fc3_api.names == deployed_functions() == {
        "kyc-initializer": "initializer", "kyc-result-fetcher": "result_fetcher",
        "kyc-notifier": "notifier", "kyc-sweeper": "sweeper",
    }


def test_a_folder_name_is_not_a_deployed_function_name(stack: DevStack) -> None:
    error = api_error(stack, "sweeper")
    assert (error.status_code, error.code) == (404, "FunctionNotFound")


# --- synchronous: each function --------------------------------------------------------------------------


def test_sdk_invokes_the_initializer_with_an_http_event(stack: DevStack) -> None:
    answer = body_json(invoke(stack, "kyc-initializer",
                              http_event(stack, "POST", "/verifications", verification_body(stack))))
    assert answer["statusCode"] == 201
    assert row_status(jsonutil.loads(answer["body"])["merchantBizId"]) == "PENDING"


def test_sdk_invokes_the_result_fetcher_with_a_recheck_event(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    response = invoke(stack, "kyc-result-fetcher", queue_event("recheck", created["merchantBizId"], attempt=1))
    assert response.status_code == 200 and body_json(response) == {"processed": 1}
    assert row_status(created["merchantBizId"]) == "PASSED"


def test_sdk_invokes_the_notifier_with_a_notify_event(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    invoke(stack, "kyc-result-fetcher", queue_event("recheck", created["merchantBizId"]))
    stack.demo.inbox.received.clear()
    assert body_json(invoke(stack, "kyc-notifier", queue_event("notify", created["merchantBizId"]))) == {"handled": 1}
    assert any(r.verified and created["merchantBizId"].encode() in r.body for r in stack.demo.inbox.received)


def test_sdk_invokes_the_sweeper_with_the_timer_event(stack: DevStack) -> None:
    response = invoke(stack, "kyc-sweeper", jsonutil.loads((EVENTS / "timer.json").read_bytes()))
    assert {"checked", "finalized", "abandoned", "stillPending", "renotified", "expired", "errors"} <= set(
        body_json(response))
    assert response.headers["x-fc-request-id"].startswith("1-")


def test_latest_is_the_only_qualifier_served(stack: DevStack) -> None:
    assert invoke(stack, "kyc-sweeper", b"{}", qualifier="LATEST").status_code == 200
    assert api_error(stack, "kyc-sweeper", qualifier="prod").code == "AliasNotFound"
    assert api_error(stack, "kyc-sweeper", qualifier="3").code == "VersionNotFound"


# --- log tail --------------------------------------------------------------------------------------------


ECHO_FUNCTION = """
import sys, time

def handler(event, context):
    print("start " + context.request_id)
    time.sleep(0.05)
    print("end " + context.request_id, file=sys.stderr)
    return event
"""


@pytest.fixture
def echo_gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway serving one function that writes its request id to stdout and stderr."""
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "index.py").write_text(ECHO_FUNCTION)
    gateway = Gateway(tmp_path, routes=())
    gateway.fc3_api = Fc3InvokeApi(gateway, names=lambda: {"kyc-echo": "echo"}, keys=lambda: {"AK": "SK"})
    with gateway:
        yield gateway


def test_log_tail_returns_the_invocations_own_output_base64_encoded(echo_gateway: Gateway) -> None:
    client = Fc3Client(Config(access_key_id="AK", access_key_secret="SK", endpoint=f"127.0.0.1:{echo_gateway.port}",
                              protocol="http"))
    tails: dict[str, str] = {}

    def call() -> None:
        response = client.invoke_function_with_options(
            "kyc-echo", fc_models.InvokeFunctionRequest(body=io.BytesIO(b"{}")),
            fc_models.InvokeFunctionHeaders(x_fc_log_type="Tail"), RuntimeOptions())
        tails[response.headers["x-fc-request-id"]] = base64.b64decode(response.headers[fc3.HEADER_LOG_RESULT]).decode()

    threads = [threading.Thread(target=call) for _ in range(4)]  # at once: each tail holds its own lines only
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(tails) == 4
    for request_id, tail in tails.items():
        assert tail == f"start {request_id}\nend {request_id}\n"


def test_log_tail_is_at_most_4_kb() -> None:
    tail = base64.b64decode(log_tail(["x" * 3000 + "\n", "y" * 3000 + "\n"]))
    assert len(tail) == 4096 and tail.endswith(b"y\n")


def test_without_tail_no_log_is_returned(stack: DevStack) -> None:
    assert fc3.HEADER_LOG_RESULT not in invoke(stack, "kyc-sweeper", b"{}").headers


# --- errors ------------------------------------------------------------------------------------------------


def test_function_error_is_reported_with_x_fc_error_type(stack: DevStack) -> None:
    response = invoke(stack, "kyc-result-fetcher", b"42", log=True)
    assert response.headers[fc3.HEADER_ERROR_TYPE] == "UnhandledInvocationError"
    assert body_json(response)["errorType"] == "BadEvent"
    assert "BadEvent" in base64.b64decode(response.headers[fc3.HEADER_LOG_RESULT]).decode()


def test_unknown_function_is_a_404_function_not_found_with_fc_error_body(stack: DevStack) -> None:
    error = api_error(stack, "kyc-no-such-function")
    assert (error.status_code, error.code) == (404, "FunctionNotFound")
    assert error.data["Message"] == "function 'kyc-no-such-function' does not exist."
    assert error.data["RequestId"].startswith("1-")


def test_a_wrong_secret_is_refused_with_signature_not_match(stack: DevStack) -> None:
    error = api_error(stack, "kyc-sweeper", secret="not-the-secret")
    assert (error.status_code, error.code) == (403, "SignatureNotMatch")


def test_an_unknown_access_key_is_refused(stack: DevStack) -> None:
    error = api_error(stack, "kyc-sweeper", key_id="someone-else")
    assert (error.status_code, error.code) == (403, "InvalidAccessKeyID")


def test_sts_credentials_sign_like_any_other_and_are_accepted(stack: DevStack) -> None:
    assert invoke(stack, "kyc-sweeper", b"{}", token="sts-token").status_code == 200


# --- asynchronous ----------------------------------------------------------------------------------------


def test_async_invocation_is_accepted_with_202_and_runs_in_the_background(fast_async: DevStack) -> None:
    assert fast_async.gateway is not None
    response = invoke(fast_async, "kyc-sweeper", b"{}", invocation_type="Async")
    assert response.status_code == 202
    invocation = fast_async.gateway.fc3_api.wait(response.headers["x-fc-request-id"], timeout=20)
    assert invocation.status == "Succeeded" and invocation.attempts == 1


def test_async_function_error_is_retried_three_times_as_fc_does_by_default(fast_async: DevStack) -> None:
    """FC "Configure a retry mechanism": a failed async invocation is retried up to three times by default (a
    function s.yaml gives no asyncInvokeConfig)."""
    assert fast_async.gateway is not None
    fast_async.gateway.fc3_api._retries = {}  # no function's own setting: FC's default
    response = invoke(fast_async, "kyc-result-fetcher", b"42", invocation_type="Async")
    invocation = fast_async.gateway.fc3_api.wait(response.headers["x-fc-request-id"], timeout=20)
    assert (invocation.status, invocation.attempts, invocation.error_type) == ("Failed", 4, "BadEvent")


def test_async_retries_follow_the_functions_s_yaml_setting(fast_async: DevStack) -> None:
    """s.yaml's asyncInvokeConfig.maxAsyncRetryAttempts (the sweeper's is 0: a timer tick is never retried)."""
    from tools.deployment import function_async_retries

    assert function_async_retries()["sweeper"] == 0
    assert function_async_retries()["result_fetcher"] == 8  # FC's most: its queue trigger may invoke asynchronously
    assert fast_async.gateway is not None
    fast_async.gateway.fc3_api._retries = {"result_fetcher": 0}  # as s.yaml would say it
    response = invoke(fast_async, "kyc-result-fetcher", b"42", invocation_type="Async")
    invocation = fast_async.gateway.fc3_api.wait(response.headers["x-fc-request-id"], timeout=20)
    assert (invocation.status, invocation.attempts) == ("Failed", 1)


# --- our signer against the SDK's, on the FC 3.0 request shape -------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("token", [None, "sts-token"])
@pytest.mark.parametrize("qualifier", [None, "LATEST"])
def test_our_signer_gives_the_sdks_authorization_for_invoke_function(
    recorder: ThreadingHTTPServer, token: str | None, qualifier: str | None
) -> None:
    client = Fc3Client(Config(access_key_id="AKID", access_key_secret="the-secret", security_token=token,
                              endpoint=f"127.0.0.1:{recorder.server_port}", protocol="http"))
    request = fc_models.InvokeFunctionRequest(body=io.BytesIO(b'{"k": "v w"}'), qualifier=qualifier)
    client.invoke_function_with_options("kyc-sweeper", request, fc_models.InvokeFunctionHeaders(
        x_fc_invocation_type="Async", x_fc_log_type="Tail"), RuntimeOptions())
    ((target, sent, body),) = _Recorder.seen
    path, _, query = target.partition("?")
    assert path == fc3.invocations_path("kyc-sweeper") and sent["content-type"] == fc3.EVENT_CONTENT_TYPE
    ours = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256",
            "content-type", "x-acs-security-token", "authorization", "content-length", "accept-encoding"}
    signed = sign_acs3_request(
        credentials=Credentials("AKID", "the-secret", token), method="POST", host=sent["host"],
        action=sent["x-acs-action"], version=sent["x-acs-version"], query=dict([query.split("=")]) if query else {},
        body=body, content_type=sent["content-type"], pathname=path, date=sent["x-acs-date"],
        nonce=sent["x-acs-signature-nonce"], extra_headers={k: v for k, v in sent.items() if k not in ours},
    )
    assert signed["Authorization"] == sent["authorization"]
    assert (sent["x-acs-action"], sent["x-acs-version"]) == (fc3.ACTION, fc3.API_VERSION)


def test_a_function_name_is_percent_encoded_in_the_path_as_the_sdk_sends_it(recorder: ThreadingHTTPServer) -> None:
    name = "kyc sweeper+1*"  # not a valid FC name: only the encoding is under test
    client = Fc3Client(Config(access_key_id="AKID", access_key_secret="the-secret",
                              endpoint=f"127.0.0.1:{recorder.server_port}", protocol="http"))
    client.invoke_function_with_options(name, fc_models.InvokeFunctionRequest(body=io.BytesIO(b"{}")),
                                        fc_models.InvokeFunctionHeaders(), RuntimeOptions())
    ((target, _, _),) = _Recorder.seen
    assert target.partition("?")[0] == fc3.invocations_path(name)


def test_kyc_invoke_sends_the_sdks_invocation_and_log_headers(recorder: ThreadingHTTPServer) -> None:
    from tools.ops.invoke import invoke_function

    client = Fc3Client(Config(access_key_id="AKID", access_key_secret="the-secret",
                              endpoint=f"127.0.0.1:{recorder.server_port}", protocol="http"))
    client.invoke_function_with_options("kyc-sweeper", fc_models.InvokeFunctionRequest(body=io.BytesIO(b"{}")),
                                        fc_models.InvokeFunctionHeaders(x_fc_invocation_type="Sync",
                                                                        x_fc_log_type="Tail"), RuntimeOptions())
    invoke_function(f"http://127.0.0.1:{recorder.server_port}", Credentials("AKID", "the-secret"), "kyc-sweeper",
                    b"{}", invocation_type="Sync", log_tail=True)
    (sdk_target, by_sdk, _), (our_target, by_us, _) = _Recorder.seen
    assert our_target == sdk_target
    assert {k: v for k, v in by_us.items() if k.startswith("x-fc-")} == {
        k: v for k, v in by_sdk.items() if k.startswith("x-fc-")}


def test_the_public_endpoint_names_the_account_then_the_region() -> None:
    # "Function Compute:Endpoints" (https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/developer-reference/
    # fc-endpoints): <Alibaba Cloud account ID>.<region-id>.fc.aliyuncs.com, e.g. 123456789012.cn-hangzhou...
    assert fc3.public_endpoint("123456789012", "cn-hangzhou") == "https://123456789012.cn-hangzhou.fc.aliyuncs.com"


@pytest.mark.parametrize("path", ["/2023-03-30/functions/kyc/sweeper/invocations",
                                  "/2023-03-30/functions/kyc-sweeper/invocations/x",
                                  "/2023-03-30/functions/kyc-sweeper/invocationsx"])
def test_an_invocations_path_is_one_function_name_then_invocations(path: str) -> None:
    match = fc3.INVOCATIONS_PATH.match("/2023-03-30/functions/kyc-sweeper/invocations/")
    assert match is not None and match["function"] == "kyc-sweeper"
    assert fc3.INVOCATIONS_PATH.match(path) is None


# --- signature refusals, each with FC's own code (the verifier is tools/acs3.py, shared with the sandbox) --------


def _signed_invoke(gateway: Gateway, *, body: bytes = b"{}", secret: str = "SK", date: str | None = None,
                   mutate: Callable[[dict[str, str]], None] | None = None) -> tuple[int, str]:
    """An InvokeFunction of kyc-echo signed with the project's signer (``mutate`` tampers the headers); (status,
    Code) of the answer, Code "" for a success."""
    path = fc3.invocations_path("kyc-echo")
    headers = sign_acs3_request(
        credentials=Credentials("AK", secret), method="POST", host=f"127.0.0.1:{gateway.port}", action=fc3.ACTION,
        version=fc3.API_VERSION, query={}, body=body, content_type=fc3.EVENT_CONTENT_TYPE, pathname=path, date=date,
    )
    if mutate is not None:
        mutate(headers)
    status, _, data, _ = gateway.fc3_api.handle("POST", path, headers.items(), body)
    return status, jsonutil.loads(data).get("Code", "") if status >= 300 else ""


def test_a_correctly_signed_request_is_answered(echo_gateway: Gateway) -> None:
    assert _signed_invoke(echo_gateway) == (200, "")


def test_a_request_without_authorization_is_missing_a_required_header(echo_gateway: Gateway) -> None:
    assert _signed_invoke(echo_gateway, mutate=lambda h: h.pop("Authorization")) == (400, "MissingRequiredHeader")


def test_another_signature_algorithm_is_an_invalid_argument(echo_gateway: Gateway) -> None:
    def other(headers: dict[str, str]) -> None:
        headers["Authorization"] = headers["Authorization"].replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3")

    assert _signed_invoke(echo_gateway, mutate=other) == (400, "InvalidArgument")


def test_an_unsigned_x_acs_header_is_signature_not_match(echo_gateway: Gateway) -> None:
    assert _signed_invoke(echo_gateway, mutate=lambda h: h.update({"x-acs-extra": "1"})) == (403, "SignatureNotMatch")


def test_a_body_other_than_the_signed_one_is_signature_not_match(echo_gateway: Gateway) -> None:
    def other_body(headers: dict[str, str]) -> None:
        headers["x-acs-content-sha256"] = "0" * 64

    assert _signed_invoke(echo_gateway, mutate=other_body) == (403, "SignatureNotMatch")


def test_a_wrong_secret_is_signature_not_match(echo_gateway: Gateway) -> None:
    assert _signed_invoke(echo_gateway, secret="not-the-secret") == (403, "SignatureNotMatch")


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60])
def test_a_date_beyond_15_minutes_is_request_time_too_skewed(echo_gateway: Gateway, skew: int) -> None:
    assert _signed_invoke(echo_gateway, date=utc_timestamp(time.time() + skew)) == (403, "RequestTimeTooSkewed")


def test_a_date_of_another_form_is_an_invalid_argument(echo_gateway: Gateway) -> None:
    def other_form(headers: dict[str, str]) -> None:
        headers["x-acs-date"] = "2024-01-01 00:00:00"

    assert _signed_invoke(echo_gateway, mutate=other_form) == (400, "InvalidArgument")
