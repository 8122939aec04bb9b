"""openapi.yaml against the running local stack: schemathesis fuzzes every documented operation.

The stack (sandbox + gateway + worker) runs in-process on 127.0.0.1 port 0 with its own data directory and
environment. Every response must be documented (status, content type, headers, body schema), every error body
must be ``{"error": {"code", "message"}}``, and no 5xx may appear: the only documented ones (502/503) come from
a failing vendor or store, which the healthy sandbox is not.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from shared import jsonutil
from tools.devstack.dev import DevConfig, DevStack

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"
MAX_EXAMPLES = 40

pytestmark = pytest.mark.slow

# Everything the stack reads or writes in os.environ: cleared before, restored after.
_ENV_PREFIXES = ("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_", "SANDBOX_")


class Stack:
    def __init__(self, dev: DevStack) -> None:
        self.dev = dev
        assert dev.gateway is not None and dev.sandbox is not None
        self.url = dev.gateway.url
        self.sandbox_url = dev.sandbox.base_url
        self.token = dev.demo_token("fuzz-user")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            del os.environ[name]
    os.environ["KYC_DATA_DIR"] = str(tmp_path_factory.mktemp("fuzz-data"))
    os.environ["KYC_RATE_LIMIT_PER_HOUR"] = "0"  # reach the vendor on every valid request
    os.environ["SANDBOX_QPS"] = "1000"
    dev = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05))
    try:
        dev.start()
        yield Stack(dev)
    finally:
        dev.stop()
        os.environ.clear()
        os.environ.update(saved)


def _load_schema() -> Any:
    loaded = schemathesis.openapi.from_path(SPEC)
    loaded.config.generation.update(
        modes=list(GenerationMode), max_examples=MAX_EXAMPLES, deterministic=True
    )
    return loaded


schema = _load_schema()


@pytest.fixture(scope="module")
def api_schema() -> Any:
    return schema


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _content_type(response: Any) -> str:
    value = response.headers.get("content-type") or response.headers.get("Content-Type") or ""
    return str(value[0] if isinstance(value, list) else value)


def _assert_error_shape(response: Any) -> None:
    """Every 4xx/5xx body is exactly ``{"error": {"code": str, "message": str}}`` (``ProductNotAllowed`` adds
    ``allowed``); no 5xx at all."""
    if 400 <= response.status_code < 600:
        assert _content_type(response).startswith("application/json"), (response.status_code, response.request.method)
        body = jsonutil.loads(response.content)
        assert set(body) == {"error"}, body
        extra = {"allowed"} if body["error"].get("code") == "ProductNotAllowed" else set()
        assert set(body["error"]) == {"code", "message", *extra}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert response.status_code < 500, (response.status_code, response.content[:300])


@schema.parametrize()  # type: ignore[untyped-decorator]
@FUZZ_SETTINGS
def test_authenticated_requests_get_only_documented_answers(case: Any, stack: Stack) -> None:
    response = case.call(base_url=stack.url, headers=stack.auth, timeout=10)
    _assert_error_shape(response)
    case.validate_response(response, checks=CHECKS, headers=stack.auth)


@schema.parametrize()  # type: ignore[untyped-decorator]
@FUZZ_SETTINGS
def test_requests_without_a_valid_token_get_only_documented_answers(case: Any, stack: Stack) -> None:
    response = case.call(base_url=stack.url, timeout=10)
    _assert_error_shape(response)
    case.validate_response(response, checks=[*CHECKS, schemathesis.checks.ignored_auth])
    public = case.operation.definition.raw.get("security") == []  # e.g. GET /verifications/products
    if case.operation.method.upper() != "OPTIONS" and case.path.startswith("/verifications") and not public:
        assert response.status_code in (400, 401, 404, 405, 413, 415), response.status_code


# --- one real flow, every answer validated against the spec ------------------------------------------------


def _validate(api_schema: Any, method: str, path: str, response: requests.Response, **parts: Any) -> None:
    case = api_schema[path][method].Case(**parts)
    case.validate_response(response, checks=CHECKS)


def test_a_completed_flow_answers_as_documented_at_every_step(stack: Stack, api_schema: Any) -> None:
    body = {"docType": "01000000", "metaInfo": '{"bioMetaInfo":"sandbox"}', "returnUrl": f"{stack.url}/"}
    started = requests.post(f"{stack.url}/verifications", json=body, headers=stack.auth, timeout=10)
    assert started.status_code == 201, started.text
    _validate(api_schema, "POST", "/verifications", started, body=body)
    mbid, tid = started.json()["merchantBizId"], started.json()["transactionId"]

    done = requests.post(f"{stack.sandbox_url}/_sandbox/transactions/{tid}/complete", json={"outcome": "pass"},
                         timeout=10)
    assert done.status_code == 200, done.text
    deadline = time.monotonic() + 20
    view: requests.Response | None = None
    while time.monotonic() < deadline:
        view = requests.get(f"{stack.url}/verifications/{mbid}", headers=stack.auth, timeout=10)
        if view.json().get("status") != "PENDING":
            break
        time.sleep(0.05)
    assert view is not None and view.json()["status"] == "PASSED", view and view.text
    _validate(api_schema, "GET", "/verifications/{merchantBizId}", view, path_parameters={"merchantBizId": mbid})

    # The vendor's callback, replayed: the duplicate is answered as already final.
    callbacks = requests.get(f"{stack.sandbox_url}/_sandbox/callbacks", timeout=10).json()["callbacks"]
    url = next(c["url"] for c in callbacks if c["transactionId"] == tid)
    replay = requests.get(url, timeout=10)
    assert replay.status_code == 200, replay.text
    assert jsonutil.loads(replay.content) == {"received": True, "outcome": "already_final", "status": "PASSED"}
    _validate(api_schema, "GET", "/callback", replay, query={"merchantBizId": mbid, "callbackToken": "x"})


def test_a_cors_preflight_from_the_allowed_origin_is_answered_as_documented(stack: Stack, api_schema: Any) -> None:
    headers = {"Origin": stack.url, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type"}
    response = requests.options(f"{stack.url}/verifications", headers=headers, timeout=10)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == stack.url
    _validate(api_schema, "OPTIONS", "/verifications", response, headers=headers)
