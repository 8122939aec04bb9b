"""Fixtures of the end-to-end tests: a whole local stack per test, and the "no PII in logs" guard on every test.

Every test that uses ``stack``/``make_stack`` runs on both backends (the ``backend`` fixture): ``local`` (SQLite
and files) and ``aliyun`` (``KYC_BACKEND=aliyun``: the real Tablestore and OSS SDKs and our MNS client over the
wire-level doubles, laid out and configured as the deployment would; ``tools/devstack/aliyun.py``). One set of
doubles serves a whole session (per xdist worker) and is reset before each test. A test that means one backend
only says so with ``@pytest.mark.parametrize("backend", ["local"])``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import E2EStack, LeakGuard, MakeStack
from tools.devstack.aliyun import STORAGE_VARIABLES, AliyunDoubles, new_sts_token
from tools.devstack.dev import EXPLORING, DevConfig, DevStack
from tools.sandbox.config import SandboxConfig

BACKENDS = ("local", "aliyun")

#: Variables DevStack writes into the environment: each is restored after the test.
STACK_VARIABLES = (
    "CLOUDAUTH_ENDPOINT", "CLOUDAUTH_REGION", "CLOUDAUTH_PRODUCT_CODE", "CLOUDAUTH_PRODUCTS",
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN", "KYC_BACKEND", "KYC_DATA_DIR", "KYC_PUBLIC_URL", "KYC_JWT_SECRET",
    "KYC_USER_ID_PEPPER", "KYC_RETURN_URL_ALLOWLIST", "KYC_CORS_ORIGINS", "KYC_WEBHOOKS", "KYC_WEBHOOK_ALLOW_PRIVATE",
    *STORAGE_VARIABLES,
)  # fmt: skip
#: Quick re-checks and webhook retries, small placeholder images: the whole suite stays fast.
FAST = {
    "KYC_RECHECK_SCHEDULE": "0,0,1",
    "KYC_WEBHOOK_RETRY_SCHEDULE": "0,0,1",
    "SANDBOX_IMAGE_BYTES": "4096",
}


@pytest.fixture(autouse=True)
def leak_guard(capfd: pytest.CaptureFixture[str]) -> Iterator[LeakGuard]:
    """Fails the test when anything the stack printed or logged, or any HTTP error body the tests received,
    contains a synthetic identity value, the MetaInfo marker, a callback token, a JWT, a secret or image data."""
    guard = LeakGuard()
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()
    out, err = capfd.readouterr()
    leaks = guard.leaks(out, err)
    if leaks:
        pytest.fail("PII or secrets leaked: " + "; ".join(str(leak) for leak in leaks), pytrace=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def aliyun_doubles() -> Iterator[AliyunDoubles]:
    """Tablestore, OSS and MNS doubles accepting the sandbox's key with an STS token (the key the functions sign
    with), as ``./scripts/dev --aliyun-doubles`` lays them out; started once, on first use."""
    sandbox = SandboxConfig()
    doubles = AliyunDoubles.from_env(
        {"ALIBABA_CLOUD_ACCESS_KEY_ID": sandbox.access_key_id,
         "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sandbox.access_key_secret,
         "ALIBABA_CLOUD_SECURITY_TOKEN": new_sts_token()}
    ).start()  # fmt: skip
    yield doubles
    doubles.stop()


@pytest.fixture
def make_stack(
    leak_guard: LeakGuard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[MakeStack]:
    """``make_stack(KYC_X="...")`` starts a stack (sandbox, gateway, worker, demo) on ``backend`` with those
    settings."""
    doubles: AliyunDoubles | None = None
    if backend == "aliyun":
        doubles = request.getfixturevalue("aliyun_doubles")
        doubles.reset()
    stacks: list[E2EStack] = []
    for name in [n for n in os.environ if n.startswith(("KYC_", "CLOUDAUTH_", "SANDBOX_", "ALIBABA_CLOUD_"))]:
        monkeypatch.delenv(name)
    for name in STACK_VARIABLES:  # set then delete: monkeypatch then removes what DevStack sets
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)

    def make(config: DevConfig | None = None, **env: str) -> E2EStack:
        """``config``: a stack of other settings (e.g. ``./scripts/dev``'s exploring ones, without FAST)."""
        assert not stacks, "one stack per test"
        for name in EXPLORING:  # DevStack may set them: restored after the test too
            monkeypatch.setenv(name, "")
            monkeypatch.delenv(name)
        for name, value in (env if config else {**FAST, **env}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("KYC_DATA_DIR", str(tmp_path / "kyc-data"))
        dev = DevStack(config or DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05),
                       doubles=doubles)
        stack = E2EStack(dev, leak_guard, marker=f"MetaMarker{secrets.token_hex(6)}")
        stacks.append(stack)
        dev.start()
        return stack

    yield make
    for stack in stacks:
        try:
            stack.harvest()
        finally:
            stack.dev.stop()


@pytest.fixture
def stack(make_stack: MakeStack) -> E2EStack:
    return make_stack()
