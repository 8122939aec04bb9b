"""The sandbox and an STS key (``./scripts/dev --aliyun-doubles``).

On FC the functions only ever have an STS key (``ALIBABA_CLOUD_ACCESS_KEY_ID`` + ``_SECRET`` + ``_SECURITY_TOKEN``);
the vendor refuses such a key without its token. ``DevStack._sts_token`` says the local stack plays that: "the sandbox
and the doubles accept the token, and refuse the key without it". The doubles tie the token to the key; the sandbox
only checks a token when one is sent, so a vendor client that loses ``x-acs-security-token`` / ``SecurityToken``
passes every local run and fails on FC.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandbox.helpers import init_params, v1_request, v3_request
from tools.devstack.aliyun import new_sts_token
from tools.devstack.dev import _accepting
from tools.sandbox import SandboxConfig, SandboxServer

TOKEN = new_sts_token()


@pytest.fixture
def sts_sandbox() -> Iterator[SandboxServer]:
    """The sandbox as DevStack starts it with --aliyun-doubles: its key, accepting the stack's STS token."""
    server = SandboxServer(_accepting(SandboxConfig(port=0), TOKEN))
    server.start()
    yield server
    server.stop()


def test_the_stack_s_sts_key_is_accepted_with_its_token(sts_sandbox: SandboxServer) -> None:
    assert v3_request(sts_sandbox, "Initialize", init_params(), token=TOKEN).status == 200


def test_an_sts_key_signed_without_its_security_token_is_refused_v3(sts_sandbox: SandboxServer) -> None:
    answer = v3_request(sts_sandbox, "Initialize", init_params())
    assert (answer.status, answer.body["Code"]) == (400, "MissingSecurityToken")


def test_an_sts_key_signed_without_its_security_token_is_refused_v1(sts_sandbox: SandboxServer) -> None:
    answer = v1_request(sts_sandbox, "Initialize", init_params())
    assert (answer.status, answer.body["Code"]) == (400, "MissingSecurityToken")
