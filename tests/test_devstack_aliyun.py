"""``./scripts/dev --aliyun-doubles``: the doubles are laid out and the functions configured as the deployment
would (s.yaml resolved with template.yml's outputs), the keys are checked, and the stack can be reset and reached."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.signing import Credentials
from shared.storage import MnsError, MnsQueue, StorageError, StorageSettings, open_stores
from tests.test_kyc_doctor import doubles_stack
from tools.deployment import (
    DeploymentError,
    deployed_functions,
    function_environment,
    function_environments,
    function_folders,
    resolve,
    ros_value,
    stack_parameters,
)
from tools.devstack.aliyun import (
    ENV_FILE,
    STORAGE_VARIABLES,
    AliyunDoubles,
    StackLayout,
    new_sts_token,
    write_env_file,
)
from tools.devstack.dev import DevConfig, DevStack
from tools.localstack import resolve_env
from tools.ops import kyc
from tools.ops.doctor.environment import read_env_file
from tools.ops.invoke import default_endpoint

__all__ = ["doubles_stack"]  # the fixture

ROOT = Path(__file__).resolve().parent.parent
KEY = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak-stack", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk-stack"}


@pytest.fixture(scope="module")
def doubles() -> Iterator[AliyunDoubles]:
    running = AliyunDoubles.from_env(KEY).start()
    yield running
    running.stop()


def _s_yaml_function_variables() -> set[str]:
    data = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    names: set[str] = set()
    for resource in data["resources"].values():
        if resource.get("component") == "fc3":
            names |= set(resource["props"]["environmentVariables"])
    return names


class _Recording(dict[str, str]):
    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


# -- the layout: template.yml's resources named as s deploy names them ------------------------------------------


def test_the_layout_is_the_templates_with_s_yamls_parameters() -> None:
    layout = StackLayout.from_deployment({}, account_id="5555")

    assert (layout.region, layout.instance, layout.table) == ("cn-hongkong", "kyc-ekyc", "kyc_transactions")
    assert layout.bucket == "kyc-results-5555"
    assert set(layout.queues) == {"kyc-recheck", "kyc-notify", "kyc-deadletter"}
    template = yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))["Resources"]
    assert {name: a.visibility_timeout for name, a in layout.queues.items()} == {
        f"kyc-{kind}": template[f"{kind.capitalize()}Queue"]["Properties"]["VisibilityTimeout"]
        for kind in ("recheck", "notify", "deadletter")
    }
    assert {a.maximum_message_size for a in layout.queues.values()} == {65_536}
    assert layout.kms_key_id is None  # KmsKeyId '' : the OSS-managed KMS key


def test_the_layout_follows_the_deploy_time_variables() -> None:
    layout = StackLayout.from_deployment(
        {"KYC_NAME_PREFIX": "shop", "KYC_OTS_INSTANCE_NAME": "shop-kyc", "KYC_REGION": "ap-southeast-1",
         "KYC_KMS_KEY_ID": "key-1"}, account_id="77",
    )  # fmt: skip

    assert (layout.region, layout.instance, layout.bucket, layout.kms_key_id) == (
        "ap-southeast-1", "shop-kyc", "shop-results-77", "key-1",
    )  # fmt: skip
    assert set(layout.queues) == {"shop-recheck", "shop-notify", "shop-deadletter"}


def test_the_bucket_encrypts_by_default_with_the_templates_kms_key() -> None:
    env = {**KEY, "KYC_KMS_KEY_ID": "key-1"}
    doubles = AliyunDoubles.from_env(env)

    assert doubles.oss.bucket_encryption[doubles.layout.bucket] == ("KMS", "key-1")
    assert AliyunDoubles.from_env(KEY).oss.bucket_encryption[doubles.layout.bucket] == ("KMS", None)


def test_objects_the_functions_write_are_encrypted_with_the_stacks_customer_key() -> None:
    """The stack makes the customer key the bucket's default; a put asking for KMS without naming it would still get
    the OSS-managed key, so the functions' environment (s.yaml over the stack's outputs) names it."""
    from shared.storage import open_object_store

    doubles = AliyunDoubles.from_env({**KEY, "KYC_KMS_KEY_ID": "key-1"}).start()
    try:
        env = doubles.environment({"KYC_KMS_KEY_ID": "key-1"})
        objects = open_object_store(StorageSettings.from_env({**KEY, **env}))
        objects.put("results/abc/result.json", b"{}", "application/json")
        (stored,) = doubles.oss.objects().values()
        assert stored.encryption_key_id == "key-1"
    finally:
        doubles.stop()


# -- the functions' configuration --------------------------------------------------------------------------------


def test_storage_variables_are_exactly_what_the_aliyun_storage_settings_read() -> None:
    # a value every check accepts: an endpoint's URL, a queue's name (no '/'), a flag
    values = {name: "kyc-x" if name.endswith("_QUEUE") else "http://x" for name in STORAGE_VARIABLES[1:]}
    values["KYC_BUCKET_VERSIONING"] = "false"
    env = _Recording({**KEY, "KYC_BACKEND": "aliyun", **values})
    env["KYC_BACKEND"] = "aliyun"

    StorageSettings.from_env(env)

    assert env.read - set(KEY) - {"ALIBABA_CLOUD_SECURITY_TOKEN"} == set(STORAGE_VARIABLES)


def test_every_storage_variable_s_yaml_sets_is_given_as_s_yaml_resolves_it(doubles: AliyunDoubles) -> None:
    env = doubles.environment({})
    deployed = function_environment(doubles.outputs(), {})

    assert set(env) == (_s_yaml_function_variables() & set(STORAGE_VARIABLES)) | {"KYC_OSS_ENDPOINT"}
    assert {name: deployed[name] for name in env if name != "KYC_OSS_ENDPOINT"} == {
        name: value for name, value in env.items() if name != "KYC_OSS_ENDPOINT"
    }
    assert env["KYC_BACKEND"] == "aliyun"
    assert (env["KYC_TABLESTORE_ENDPOINT"], env["KYC_MNS_ENDPOINT"], env["KYC_OSS_ENDPOINT"]) == (
        doubles.tablestore.endpoint, doubles.mns.endpoint, doubles.oss.endpoint,
    )  # fmt: skip
    assert (env["KYC_OSS_REGION"], env["KYC_OSS_PREFIX"]) == ("cn-hongkong", "results/")
    assert [env[f"KYC_{q}_QUEUE"] for q in ("RECHECK", "NOTIFY", "DEADLETTER")] == [
        "kyc-recheck", "kyc-notify", "kyc-deadletter",
    ]  # fmt: skip


def test_the_functions_storage_opens_on_the_doubles_with_their_key(doubles: AliyunDoubles) -> None:
    stores = open_stores(StorageSettings.from_env({**KEY, **doubles.environment({})}))

    stores.objects.put("probe/x.txt", b"x", "text/plain")
    stores.queue("notify").send(b"probe")

    assert doubles.oss.object("results/probe/x.txt") is not None
    assert doubles.oss.object("results/probe/x.txt").encryption == "KMS"  # type: ignore[union-attr]
    assert stores.transactions.get("0" * 32) is None
    doubles.reset()


def test_a_key_other_than_the_functions_is_refused(doubles: AliyunDoubles) -> None:
    queue = MnsQueue(doubles.mns.endpoint, "kyc-notify", Credentials("ak-stack", "not-the-secret"))

    with pytest.raises(MnsError) as caught:
        queue.send(b"x")

    assert caught.value.code == "SignatureDoesNotMatch"


def test_with_a_security_token_the_key_alone_is_refused_by_every_double() -> None:
    token = new_sts_token()
    with_token = AliyunDoubles.from_env({**KEY, "ALIBABA_CLOUD_SECURITY_TOKEN": token}).start()
    try:
        env = with_token.environment({})
        without = open_stores(StorageSettings.from_env({**KEY, **env}))
        refused = []
        for call in (lambda: without.transactions.get("0" * 32), lambda: without.objects.exists("a"),
                     lambda: without.queue("notify").send(b"x")):
            with pytest.raises(StorageError) as caught:
                call()
            refused.append(caught.value.status)
        with_it = open_stores(StorageSettings.from_env({**KEY, "ALIBABA_CLOUD_SECURITY_TOKEN": token, **env}))
        assert with_it.transactions.get("0" * 32) is None and with_it.objects.exists("a") is False
    finally:
        with_token.stop()

    assert all(status in (400, 403) for status in refused), refused


def test_reset_forgets_rows_objects_and_messages_and_keeps_an_empty_table(doubles: AliyunDoubles) -> None:
    stores = open_stores(StorageSettings.from_env({**KEY, **doubles.environment({})}))
    from tests.storage.conftest import make_record

    record = make_record()
    stores.transactions.create(record)
    stores.objects.put("a/b.json", b"{}", "application/json")
    stores.queue("recheck").send(b"m")

    doubles.reset()

    assert stores.transactions.get(record.merchant_biz_id) is None
    stores.transactions.create(record)  # the table is there again
    assert doubles.oss.keys() == [] and doubles.queue_depth("kyc-recheck") == 0
    doubles.reset()


# -- the dev stack -----------------------------------------------------------------------------------------------


def test_the_dev_stack_on_doubles_says_so_and_writes_an_env_file_the_cli_can_source(tmp_path: Path) -> None:
    env: dict[str, str] = {"KYC_DATA_DIR": str(tmp_path), "KYC_BACKEND": "local", "KYC_OSS_BUCKET": "mine"}
    stack = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, aliyun_doubles=True, doubles_port=0),
                     env=env)  # fmt: skip
    try:
        stack.start()
        assert stack.doubles is not None
        banner = stack.banner()
        sourced = subprocess.run(
            ["bash", "-c", f". {tmp_path / ENV_FILE} && env"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        mode = stat.S_IMODE(os.stat(tmp_path / ENV_FILE).st_mode)
    finally:
        stack.stop()

    assert not (tmp_path / ENV_FILE).exists()  # the running stack's, like its stack file
    assert "aliyun (KYC_BACKEND=aliyun)" in banner
    for double in stack.doubles.doubles:
        assert double.endpoint in banner
    assert (env["KYC_BACKEND"], env["KYC_OSS_BUCKET"]) == ("aliyun", stack.doubles.layout.bucket)  # flag wins
    assert env["ALIBABA_CLOUD_SECURITY_TOKEN"] == stack.doubles.security_token  # an STS key, as FC's role gives
    assert mode == 0o600
    for name in ("KYC_BACKEND", "KYC_MNS_ENDPOINT", "KYC_PUBLIC_URL", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        assert f"{name}={env[name]}" in sourced


def test_the_env_file_quotes_what_a_shell_would_interpret(tmp_path: Path) -> None:
    path = write_env_file(tmp_path / "e.env", {"KYC_WEBHOOKS": '[{"url": "x $HOME `id`"}]', "HOME": "/nope"},
                          with_keys=True)

    sourced = subprocess.run(["bash", "-c", f". {path} && printf %s \"$KYC_WEBHOOKS\""], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip

    assert sourced == '[{"url": "x $HOME `id`"}]'
    assert "export HOME" not in path.read_text()  # only the functions' variables


# -- tools.deployment's reading of the ROS forms -----------------------------------------------------------------


def test_ros_values_ref_sub_and_getatt() -> None:
    names, attributes = {"P": "kyc", "ALIYUN::AccountId": "12"}, {"Bucket.Name": "b"}

    assert ros_value({"Ref": "P"}, names, attributes) == "kyc"
    assert ros_value({"Fn::Sub": "${P}-results-${ALIYUN::AccountId}"}, names, attributes) == "kyc-results-12"
    assert ros_value({"Fn::GetAtt": ["Bucket", "Name"]}, names, attributes) == "b"
    assert ros_value(60, names, attributes) == "60"
    assert ros_value({"Fn::Sub": "${Unknown}"}, names, attributes) is None
    assert ros_value({"Fn::If": ["C", 1, 2]}, names, attributes) is None


@pytest.mark.parametrize("value", [{"Ref": "Unknown"}, {"Fn::GetAtt": ["Bucket", "Arn"]},
                                   {"Fn::Str": {"Ref": "Unknown"}}, {"Ref": "P", "Fn::Sub": "${P}"},
                                   {"Fn::Sub": ["${A}", {"A": "x"}]}])
def test_a_ros_value_that_cannot_be_worked_out_is_none(value: dict[str, Any]) -> None:
    assert ros_value(value, {"P": "kyc"}, {"Bucket.Name": "b"}) is None


def test_an_empty_deploy_time_variable_takes_the_default() -> None:
    """As tools.deployment.resolve documents Serverless Devs' ${env('N', 'd')} (its own behaviour: unverified)."""
    assert resolve("${env('KYC_REGION', 'cn-hongkong')}", {}, {"KYC_REGION": ""}) == "cn-hongkong"
    assert resolve("${env('KYC_REGION', 'cn-hongkong')}", {}, {"KYC_REGION": "ap-southeast-1"}) == "ap-southeast-1"


def test_a_stack_output_is_read_only_from_the_kyc_infra_stack() -> None:
    assert resolve("${resources.kyc-infra.output.BucketName}", {}, {}, {"BucketName": "b"}) == "b"
    with pytest.raises(DeploymentError):
        resolve("${resources.other-stack.output.BucketName}", {}, {}, {"BucketName": "b"})


def test_a_stack_output_is_left_as_written_when_no_outputs_are_given() -> None:
    assert resolve("${resources.kyc-infra.output.BucketName}", {}, {}) == "${resources.kyc-infra.output.BucketName}"


def test_an_exported_variable_stands_in_for_a_missing_output_only_when_asked() -> None:
    exported = {"KYC_OSS_BUCKET": "my-bucket"}
    assert function_environments(exported).functions["sweeper"]["KYC_OSS_BUCKET"] == "my-bucket"
    strict = function_environments(exported, exported_fallback=False)
    assert "KYC_OSS_BUCKET" not in strict.functions["sweeper"]
    assert strict.missing_outputs["KYC_OSS_BUCKET"] == "BucketName"


def test_a_function_s_code_must_be_a_build_folder(tmp_path: Path) -> None:
    s_yaml = tmp_path / "s.yaml"
    s_yaml.write_text("resources:\n  f:\n    component: fc3\n    props:\n      functionName: kyc-f\n"
                      "      code: ./build/f/src\n", encoding="utf-8")
    with pytest.raises(DeploymentError):
        function_folders(s_yaml)


def test_deployed_function_names_follow_the_deploy_time_prefix() -> None:
    assert deployed_functions({})["kyc-result-fetcher"] == "result_fetcher"
    assert deployed_functions({"KYC_NAME_PREFIX": "shop"})["shop-result-fetcher"] == "result_fetcher"


def test_an_empty_or_zero_template_default_is_a_parameter_too(tmp_path: Path) -> None:
    template = tmp_path / "template.yml"
    template.write_text("Parameters:\n  Empty: {Type: String, Default: ''}\n  Zero: {Type: Number, Default: 0}\n"
                        "Resources: {}\n", encoding="utf-8")
    parameters = stack_parameters({}, template_path=template)
    assert (parameters["Empty"], parameters["Zero"]) == ("", "0")


def test_the_function_folders_are_in_s_yamls_order() -> None:
    resources = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))["resources"].values()
    in_order = [r["props"]["code"].rstrip("/").rsplit("/", 1)[-1] for r in resources if r.get("component") == "fc3"]
    assert list(function_folders()) == in_order


def test_an_s_yaml_var_that_is_not_set_is_an_error() -> None:
    with pytest.raises(DeploymentError):
        resolve("${vars.missing}", {"vars": {"region": "cn-hongkong"}}, {})


def test_stack_parameters_are_s_yamls_over_the_templates_defaults() -> None:
    parameters = stack_parameters({"KYC_RETENTION_DAYS": "7"})

    assert parameters["RetentionDays"] == "7"  # s.yaml passes ${env('KYC_RETENTION_DAYS', '90')}
    assert parameters["TableName"] == "kyc_transactions"  # not passed by s.yaml: the template's default


def test_a_function_variable_naming_an_output_the_stack_lacks_is_an_error() -> None:
    with pytest.raises(DeploymentError):
        function_environment({"OtsEndpoint": "http://x"}, {})


REAL_ENDPOINT = "https://cloudauth-intl.cn-hongkong.aliyuncs.com"
REAL_SECRET = "REAL-account-secret-0123456789abcdef"


def _files_holding(directory: Path, needle: str) -> list[str]:
    return sorted(
        str(path.relative_to(directory)) for path in directory.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    )


def test_a_real_vendor_s_secret_key_is_never_written_to_the_data_directory(tmp_path: Path) -> None:
    """tools/localstack.py: a real vendor's key is never written to disk by the stack; aliyun-doubles.env held it, and
    outlived the stack."""
    env: dict[str, str] = {
        "KYC_DATA_DIR": str(tmp_path),
        "CLOUDAUTH_ENDPOINT": REAL_ENDPOINT,
        "CLOUDAUTH_REGION": "cn-hongkong",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-real-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": REAL_SECRET,
    }
    stack = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, aliyun_doubles=True, doubles_port=0),
                     env=env)  # fmt: skip
    try:
        stack.start()
        assert stack.sandbox is None  # the real vendor plays the vendor
        while_running = _files_holding(tmp_path, REAL_SECRET)
    finally:
        stack.stop()
    after_stop = _files_holding(tmp_path, REAL_SECRET)

    assert (while_running, after_stop) == ([], []), (
        f"the real vendor's secret key is on disk while the stack runs in {while_running} and after it stopped in "
        f"{after_stop}"
    )


def test_a_stack_refused_the_data_directory_leaves_the_running_stacks_env_file(tmp_path: Path) -> None:
    """A second stack on the same data directory, handed the doubles (tools and tests do), is refused at start by
    the lock; its stop() changes nothing of the running stack's, its variables file included."""
    from tools.devstack.dev import StartError

    def stack_on_doubles(**kwargs: Any) -> DevStack:
        config = DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, aliyun_doubles=True, doubles_port=0)
        return DevStack(config, env={"KYC_DATA_DIR": str(tmp_path)}, **kwargs)

    running = stack_on_doubles()
    running.start()
    try:
        second = stack_on_doubles(doubles=running.doubles)
        with pytest.raises(StartError):
            second.start()
        second.stop()
        assert (tmp_path / ENV_FILE).exists()
    finally:
        running.stop()


# -- a second shell that sourced the stack's variables file ------------------------------------------------


def _sourced_shell(stack: DevStack) -> dict[str, str]:
    """A fresh shell that did what the banner says: ``. .kyc-data/aliyun-doubles.env``."""
    fresh = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_"))}
    return {**fresh, **read_env_file(stack.data_dir / ENV_FILE)}


def test_a_shell_that_sourced_the_doubles_env_file_invokes_the_running_stack_s_gateway(
    doubles_stack: DevStack,
) -> None:
    """Such a shell chooses the aliyun backend, so it takes nothing from the stack file: the variables file itself
    says where the stack's gateway is."""
    env = resolve_env(_sourced_shell(doubles_stack))

    assert default_endpoint(env) == doubles_stack.gateway.url.rstrip("/"), (
        "kyc invoke in the sourced shell goes to the default port, not the stack's gateway"
    )


def test_kyc_invoke_in_a_shell_that_sourced_the_doubles_env_file_reaches_the_stack(
    doubles_stack: DevStack,
) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(["invoke", "sweeper", "--event-file", str(ROOT / "tests/events/timer.json"), "--no-log"],
                    env=_sourced_shell(doubles_stack), stdout=out, stderr=err, stdin=io.StringIO())

    assert code == 0, err.getvalue()
