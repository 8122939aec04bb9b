"""The local stack at its edges (found by review, each test failing first): a stale stack file whose process id
another program now has, its own tokens when KYC_JWT_AUDIENCE is set, the doctor's advice in a shell with no stack."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_dev_leftovers import data_dir
from tools.devstack.dev import DevConfig, DevStack
from tools.localstack import release_stack_lock, remove_stack_file, resolve_env, write_stack_file

__all__ = ["data_dir"]


def test_a_stack_file_whose_pid_now_belongs_to_another_program_does_not_stop_the_start(data_dir: Path) -> None:
    """139fdd3 refuses to start while ``local-stack.json`` names a live process, but a pid is only "alive": a stack
    killed without stopping (kill -9, a closed laptop lid and a reboot, a container restart, where pids are small
    and reused) leaves its file, and once another program gets that pid ``./scripts/dev`` refuses forever, telling
    the developer to "stop" process N, an unrelated program (``tools.localstack._alive`` says itself a recycled pid
    is not told apart). Before 139fdd3 the stack started and replaced the file. Here the file is an hour older than
    the process that now holds its pid, so that process cannot be the stack that wrote it: the start must go on
    (e.g. an flock held by the running stack, or the holder's start time compared with the file's)."""
    from tools.localstack import STACK_FILE, running_stack

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = data_dir / STACK_FILE  # the killed stack's file (no process holds its lock), its pid since reused:
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f'{{"pid":{other.pid},"env":{{}}}}')
        written = time.time() - 3600
        os.utime(path, (written, written))
        dev = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05))
        try:
            dev.start()
            stack = running_stack(data_dir)
            assert stack is not None and stack.pid == os.getpid()
        finally:
            dev.stop()
    finally:
        other.kill()
        other.wait()


def test_with_kyc_jwt_audience_set_the_local_stack_s_own_tokens_are_accepted_by_its_initializer(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a2e4233 makes the initializer require ``aud`` once ``KYC_JWT_AUDIENCE`` is set, and ``./scripts/dev`` passes
    every variable of the shell to its functions (its docstring: "Every variable the functions read can be
    overridden from the environment"; deploy.md has the operator export the deployment's variables in a shell).
    But the tokens the stack itself mints, the banner's demo JWT (``DevStack.demo_token``) and the demo page's
    (``GET /demo/token``, ``tools/devstack/demo.py``), carry no ``aud``: in such a shell every request of the
    demo page and of the printed token is refused 401 ``InvalidToken`` ("token claim 'aud' is required"). The
    stack mints with the functions' own ``KYC_JWT_SECRET``; it should name their ``KYC_JWT_AUDIENCE`` too."""
    import urllib.error
    import urllib.request

    from shared import jsonutil

    monkeypatch.setenv("KYC_JWT_AUDIENCE", "https://kyc.shop.example")
    dev = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05))
    dev.start()
    try:
        assert dev.gateway is not None
        base = dev.gateway.url
        with urllib.request.urlopen(f"{base}/demo/token?user=demo-user", timeout=10) as answer:
            page_token = jsonutil.loads(answer.read())["token"]
        statuses = []
        for token in (dev.demo_token(), page_token):
            request = urllib.request.Request(f"{base}/verifications/{'0' * 32}",
                                             headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
    finally:
        dev.stop()
    assert statuses == [404, 404]  # authenticated; no such verification


def test_the_doctor_of_a_local_shell_with_no_stack_running_points_a_missing_access_key_at_scripts_dev(
    tmp_path: Path,
) -> None:
    """f77e903 answers a missing ``ALIBABA_CLOUD_ACCESS_KEY_ID`` with "export ALIBABA_CLOUD_ACCESS_KEY_ID and
    ALIBABA_CLOUD_ACCESS_KEY_SECRET (docs/deploy.md, section 5)" in every mode, and dropped the "(locally: restart
    ./scripts/dev)" every other configuration fix keeps. A newcomer running ``./scripts/kyc doctor`` before (or
    after stopping) ``./scripts/dev`` (local backend, nothing exported) is told to export a real AccessKey; doing so
    makes every later ``./scripts/kyc`` in that shell call the real vendor instead of the stack's sandbox
    (``tools.localstack.resolve_env`` never mixes the stack's keys and endpoint into a shell holding its own), so
    erase and refetch ask Alibaba Cloud about sandbox transactions. Locally the fix is to start ./scripts/dev."""
    import io
    import json

    from tools.ops import kyc

    env = {"PATH": os.environ.get("PATH", ""), "KYC_DATA_DIR": str(tmp_path / "data")}
    out = io.StringIO()
    kyc.main(["doctor", "--json", "--timeout", "2"], env=env, stdout=out, stderr=io.StringIO())
    findings = {f["check"]: f for f in map(json.loads, out.getvalue().splitlines())}
    fetcher = findings["config.result_fetcher"]
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in fetcher["detail"]
    assert "./scripts/dev" in fetcher["fix"]


# -- a shell set up for the cloud while a stack on the doubles runs ----------------------------------------

DOUBLES = {  # what ./scripts/dev --aliyun-doubles runs its functions with (tools/devstack/aliyun.py)
    "KYC_BACKEND": "aliyun",
    "KYC_TABLESTORE_ENDPOINT": "http://127.0.0.1:40001",
    "KYC_TABLESTORE_INSTANCE": "doubles",
    "KYC_OSS_REGION": "cn-hongkong",
    "KYC_OSS_BUCKET": "doubles-bucket",
    "KYC_OSS_ENDPOINT": "http://127.0.0.1:40002",
    "KYC_MNS_ENDPOINT": "http://127.0.0.1:40003",
    "CLOUDAUTH_ENDPOINT": "http://127.0.0.1:40004",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.doubles",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "doubles-secret",
    "KYC_USER_ID_PEPPER": "the-dev-stack-s-own-pepper",
}


@pytest.fixture
def doubles_stack(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "data"
    directory.mkdir()
    write_stack_file(directory, DOUBLES, sandbox_running=True)
    try:
        yield directory
    finally:
        remove_stack_file(directory)
        release_stack_lock(directory)


CLOUD = {
    "KYC_BACKEND": "aliyun",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-real",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "real-secret",
    "KYC_TABLESTORE_ENDPOINT": "https://kyc-ekyc.cn-hongkong.ots.aliyuncs.com",
    "KYC_TABLESTORE_INSTANCE": "kyc-ekyc",
    "KYC_OSS_REGION": "cn-hongkong",
    "KYC_OSS_BUCKET": "kyc-results-123",
    "KYC_MNS_ENDPOINT": "https://123.mns.cn-hongkong.aliyuncs.com",
}


def test_a_shell_set_up_for_the_cloud_gets_no_storage_setting_from_an_aliyun_doubles_stack(
    doubles_stack: Path,
) -> None:
    """security.md: the stack's files fill in only what is unset, never with the aliyun backend. With the OSS double's
    endpoint, kyc erase would erase the real row and delete the objects on the double."""
    cloud = {**CLOUD, "KYC_DATA_DIR": str(doubles_stack)}

    resolved = dict(resolve_env(cloud).items())

    mixed_in = {name: resolved[name] for name in resolved if name not in cloud}
    assert "KYC_OSS_ENDPOINT" not in resolved, f"the aliyun backend was completed from the doubles' stack: {mixed_in}"


def test_erase_on_the_cloud_without_a_pepper_is_refused_even_while_an_aliyun_doubles_stack_runs(
    doubles_stack: Path,
) -> None:
    """operations.md, "Erasure requests": "locally, without the variable, the stack's own pepper ...; on the cloud
    it is required". With the dev stack's pepper, ``erase --user`` hashes the user id wrongly and finds none of the
    user's real transactions: an erasure request reported done that erased nothing."""
    cloud = {**CLOUD, "KYC_DATA_DIR": str(doubles_stack)}

    resolved = dict(resolve_env(cloud).items())

    assert resolved.get("KYC_USER_ID_PEPPER") is None, "the cloud shell was given the dev stack's pepper"
