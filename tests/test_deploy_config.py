"""Static checks of the deployment: s.yaml (Serverless Devs 3) and template.yml (ROS).

Nothing here talks to Alibaba Cloud: the files are parsed with PyYAML and checked against what the code needs
(handlers, environment variables) and against the security rules (least privilege, encryption, retention).
"""

from __future__ import annotations

import ast
import base64
import fnmatch
import functools
import inspect
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import products
from shared.config import ConfigError
from shared.storage.queueing import check_queue_name

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
INFRA = "kyc-infra"

# Every function the design deploys.
DEPLOYED = ("initializer", "result_fetcher", "notifier", "sweeper")
NOT_WRITTEN_YET: set[str] = set()

COMMON_ENV = {
    "KYC_BACKEND", "KYC_TABLESTORE_ENDPOINT", "KYC_TABLESTORE_INSTANCE", "KYC_TABLESTORE_TABLE", "KYC_OSS_REGION",
    "KYC_OSS_BUCKET", "KYC_OSS_PREFIX", "KYC_BUCKET_VERSIONING", "KYC_MNS_ENDPOINT", "KYC_RECHECK_QUEUE",
    "KYC_NOTIFY_QUEUE", "KYC_DEADLETTER_QUEUE", "KYC_LOG_LEVEL", "CLOUDAUTH_REGION", "CLOUDAUTH_USE_VPC_ENDPOINT",
}
FUNCTION_ENV = {
    "initializer": {"KYC_PUBLIC_URL", "KYC_JWT_SECRET", "KYC_USER_ID_PEPPER", "KYC_RETURN_URL_ALLOWLIST",
                    "KYC_VENDOR_SWITCHES",
                    "KYC_CORS_ORIGINS", "KYC_RATE_LIMIT_PER_HOUR"},
    "result_fetcher": {"KYC_RECHECK_SCHEDULE", "KYC_DELETE_VENDOR_COPY"},
    "notifier": {"KYC_WEBHOOKS", "KYC_WEBHOOK_RETRY_SCHEDULE"},
    "sweeper": {"KYC_SWEEP_AFTER", "KYC_ABANDON_AFTER", "KYC_RETENTION_DAYS", "KYC_RECHECK_SCHEDULE",
                "KYC_DELETE_VENDOR_COPY", "KYC_WEBHOOK_RETRY_SCHEDULE"},
}
SECRETS = {"KYC_JWT_SECRET", "KYC_USER_ID_PEPPER", "KYC_WEBHOOKS"}
INJECTED_BY_FC = {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"}
# The keys a permission statement may hold. RAM "Policy structure and syntax" (Last Updated May 27, 2026):
# <statement> = { <effect_block>, <action_block>, <resource_block>, <condition_block?> }, the action block being
# Action or NotAction; ROS's ALIYUN::RAM::Role, Policies.PolicyDocument.Statement: Effect, Action, NotAction,
# Resource, Condition (both as the deployment review quoted them; "Simple Message Queue (formerly MNS):RAM
# authorization" shows the same general structure). No Sid.
STATEMENT_KEYS = frozenset({"Effect", "Action", "NotAction", "Resource", "Condition"})
# Services whose RAM actions have no resource-level permissions (Resource must be "*"). ID Verification's RAM
# namespace is antcloudauth (system policy AliyunAntCloudAuthFullAccess = antcloudauth:* on "*").
NO_RESOURCE_LEVEL = {"antcloudauth"}
CLOUDAUTH_ACTIONS = set(products.RAM_ACTIONS)  # every operation the functions call (shared/products.py)
VPC_MARK = re.compile(r"^( *)#vpc ", re.MULTILINE)
OUTPUT_REF = re.compile(r"\$\{resources\." + re.escape(INFRA) + r"\.output\.([A-Za-z0-9_]+)\}")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def vpc_variant() -> dict[str, Any]:
    """s.yaml with its "#vpc " lines switched on, as docs/deploy.md's sed command does."""
    text = VPC_MARK.sub(r"\1", (ROOT / "s.yaml").read_text(encoding="utf-8"))
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def s_yaml() -> dict[str, Any]:
    return _load("s.yaml")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _load("template.yml")


def fc3_functions(s_yaml: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Function folder name (from `code: ./build/<f>`) -> fc3 props."""
    found = {}
    for name, resource in s_yaml["resources"].items():
        if resource.get("component") != "fc3":
            continue
        code = resource["props"]["code"]
        match = re.fullmatch(r"(?:\./)?build/([A-Za-z0-9_]+)/?", code)
        assert match, f"{name}: code {code!r} is not ./build/<function> (the output of ./scripts/package)"
        found[match.group(1)] = resource["props"]
    return found


def function_folders() -> list[str]:
    return sorted(p.name for p in FUNCTIONS_DIR.iterdir() if (p / "index.py").is_file())


def defined_functions(function: str) -> set[str]:
    tree = ast.parse((FUNCTIONS_DIR / function / "index.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def require_written(function: str) -> None:
    if not (FUNCTIONS_DIR / function / "index.py").is_file():
        if function in NOT_WRITTEN_YET:
            pytest.skip(f"functions/{function} is not written yet")
        pytest.fail(f"functions/{function}/index.py is missing")


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def branches(node: Any) -> Iterator[Any]:
    """Both outcomes of an `Fn::If`, without `Ref: ALIYUN::NoValue`; anything else as it is."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        for branch in node["Fn::If"][1:]:
            yield from branches(branch)
    elif node != {"Ref": "ALIYUN::NoValue"}:
        yield node


def statements(template: dict[str, Any], role: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every role (of ``role`` only, when given), each Fn::If branch on its own."""
    for name, resource in resources_of_type(template, "ALIYUN::RAM::Role").items():
        if role is not None and name != role:
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                for resolved in branches(statement):
                    yield name, resolved


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


#: The role each function runs with (s.yaml ``role``: the stack output ``<Role>Arn``). result_fetcher and sweeper
#: share one: they make the same calls (the sweeper re-checks through the fetcher).
ROLE_OF = {"initializer": "InitializerRole", "result_fetcher": "FetcherRole", "notifier": "NotifierRole",
           "sweeper": "SweeperRole"}  # fmt: skip
ROLES = sorted(set(ROLE_OF.values()))


def role_properties(template: dict[str, Any], role: str) -> dict[str, Any]:
    return template["Resources"][role]["Properties"]


def statement_granting(template: dict[str, Any], action: str, role: str | None = None) -> dict[str, Any]:
    """The one statement (of ``role``, when given) whose Action lists ``action`` (statements carry no Sid: see
    STATEMENT_KEYS)."""
    matches = [s for _, s in statements(template, role) if action in as_list(s["Action"])]
    assert len(matches) == 1, f"expected one statement granting {action}"
    return matches[0]


def comment_above(statement: dict[str, Any], role: str | None = None) -> list[str]:
    """The comment lines right above ``statement`` in template.yml (its ``- Effect:`` line, in ``role``'s resource
    when given), top to bottom."""
    raw = (ROOT / "template.yml").read_text(encoding="utf-8").splitlines()
    first, last = 0, len(raw)
    if role is not None:
        first = raw.index(f"  {role}:")
        last = next((i for i in range(first + 1, len(raw)) if re.fullmatch(r"  \w+:", raw[i])), len(raw))
    first_action = f"- {as_list(statement['Action'])[0]}"
    starts = [i for i, text in enumerate(raw) if text.strip() == "- Effect: Allow" and first <= i < last]
    (start,) = [s for s in starts if first_action in [text.strip() for text in raw[s : s + 3]]]
    comments: list[str] = []
    for text in reversed(raw[:start]):
        if not text.strip().startswith("#"):
            break
        comments.insert(0, text.strip().lstrip("# "))
    return comments


# ------------------------------------------------------------------------------------------------ functions


def test_every_function_folder_has_an_fc3_resource(s_yaml: dict[str, Any]) -> None:
    missing = set(function_folders()) - set(fc3_functions(s_yaml))
    assert not missing, f"functions without an fc3 resource in s.yaml: {sorted(missing)}"


def test_s_yaml_deploys_exactly_the_designed_functions(s_yaml: dict[str, Any]) -> None:
    assert sorted(fc3_functions(s_yaml)) == sorted(DEPLOYED)


@pytest.mark.parametrize("function", DEPLOYED)
def test_handler_points_at_a_defined_handler(s_yaml: dict[str, Any], function: str) -> None:
    props = fc3_functions(s_yaml)[function]
    assert props["handler"] == "index.handler"
    require_written(function)
    assert "handler" in defined_functions(function)


@pytest.mark.parametrize("function", DEPLOYED)
def test_initializer_hook_only_when_index_defines_initialize(s_yaml: dict[str, Any], function: str) -> None:
    hook = fc3_functions(s_yaml)[function].get("instanceLifecycleConfig", {}).get("initializer")
    require_written(function)
    if "initialize" in defined_functions(function):
        assert hook == {"handler": "index.initialize", "timeout": 10}
    else:
        assert hook is None, "s.yaml names index.initialize but index.py does not define it"


@pytest.mark.parametrize("function", DEPLOYED)
def test_function_sets_every_required_environment_variable(s_yaml: dict[str, Any], function: str) -> None:
    env = fc3_functions(s_yaml)[function].get("environmentVariables", {})
    missing = (COMMON_ENV | FUNCTION_ENV[function]) - set(env)
    assert not missing, f"{function} lacks {sorted(missing)}"
    assert env["KYC_BACKEND"] == "aliyun"


def test_every_variable_the_code_requires_is_deployed(s_yaml: dict[str, Any]) -> None:
    """Names passed to shared.config.env_required anywhere in the code are set for some function (or by FC)."""
    pattern = re.compile(r"env_required\(\s*\w+\s*,\s*\"([A-Z0-9_]+)\"")
    required = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *FUNCTIONS_DIR.rglob("*.py")]:
        required |= set(pattern.findall(path.read_text(encoding="utf-8")))
    deployed = set().union(*(set(p.get("environmentVariables", {})) for p in fc3_functions(s_yaml).values()))
    assert required, "found no env_required calls: the scan is broken"
    assert not required - deployed - INJECTED_BY_FC


@pytest.mark.parametrize("function", DEPLOYED)
def test_function_does_not_set_credentials(s_yaml: dict[str, Any], function: str) -> None:
    env = fc3_functions(s_yaml)[function].get("environmentVariables", {})
    assert not INJECTED_BY_FC & set(env), "FC injects the role's STS credentials; never set them"


def test_secrets_come_from_the_operators_environment(s_yaml: dict[str, Any]) -> None:
    seen = set()
    for function, props in fc3_functions(s_yaml).items():
        for name, value in props.get("environmentVariables", {}).items():
            if name in SECRETS:
                seen.add(name)
                assert value == f"${{env('{name}')}}", f"{function}.{name} must be ${{env('{name}')}} with no default"
    assert seen == SECRETS


def test_every_stack_output_referenced_by_s_yaml_exists(s_yaml: dict[str, Any], template: dict[str, Any]) -> None:
    referenced = set(OUTPUT_REF.findall((ROOT / "s.yaml").read_text(encoding="utf-8")))
    assert referenced, "s.yaml references no stack outputs"
    assert not referenced - set(template["Outputs"])


def test_stack_parameters_passed_by_s_yaml_exist(s_yaml: dict[str, Any], template: dict[str, Any]) -> None:
    infra = s_yaml["resources"][INFRA]
    assert infra["component"] == "ros"
    assert infra["props"]["template"] in {"./template.yml", "template.yml"}
    assert not set(infra["props"]["parameters"]) - set(template["Parameters"])


@pytest.mark.parametrize("function", DEPLOYED)
def test_function_runs_with_its_own_stack_role_and_logs_to_its_logstore(
    s_yaml: dict[str, Any], template: dict[str, Any], function: str
) -> None:
    props = fc3_functions(s_yaml)[function]
    role = ROLE_OF[function]
    assert props["role"] == f"${{resources.{INFRA}.output.{role}Arn}}"
    assert template["Outputs"][f"{role}Arn"]["Value"] == {"Fn::GetAtt": [role, "Arn"]}
    assert props["logConfig"]["project"] == f"${{resources.{INFRA}.output.LogProjectName}}"
    assert props["logConfig"]["logstore"] == f"${{resources.{INFRA}.output.LogstoreName}}"


def test_runtime_matches_the_package_scripts_target_python(s_yaml: dict[str, Any]) -> None:
    script = (ROOT / "scripts" / "_package.py").read_text(encoding="utf-8")
    match = re.search(r"\"KYC_PACKAGE_PYTHON\", \"(3\.\d+)\"", script)
    assert match, "scripts/_package.py default KYC_PACKAGE_PYTHON not found"
    runtime = s_yaml["vars"]["runtime"]
    assert runtime == "python" + match.group(1)
    assert {p["runtime"] for p in fc3_functions(s_yaml).values()} == {"${vars.runtime}"}


# ------------------------------------------------------------------------------------------------ triggers


def triggers(s_yaml: dict[str, Any], function: str, kind: str) -> list[dict[str, Any]]:
    return [t for t in fc3_functions(s_yaml)[function].get("triggers", []) if t["triggerType"] == kind]


def test_initializer_http_trigger_serves_post_get_and_preflight(s_yaml: dict[str, Any]) -> None:
    (http,) = triggers(s_yaml, "initializer", "http")
    assert http["triggerConfig"]["authType"] == "anonymous"
    assert set(http["triggerConfig"]["methods"]) == {"GET", "POST", "OPTIONS"}


def test_result_fetcher_http_trigger_accepts_the_vendors_get_callback(s_yaml: dict[str, Any]) -> None:
    (http,) = triggers(s_yaml, "result_fetcher", "http")
    assert http["triggerConfig"]["authType"] == "anonymous"
    assert http["triggerConfig"]["methods"] == ["GET"]


# fc3 props that are not CreateFunctionInput fields: the component handles them itself (a local code path, the
# region, the triggers and the async invocation config, each checked against its own model below).
FC3_COMPONENT_PROPS = {"region", "code", "triggers", "asyncInvokeConfig"}


def _dropped(given: Any, kept: Any, path: str) -> list[str]:
    """What of ``given`` the SDK model did not keep (``from_map`` then ``to_map``): names FC 3.0 does not have."""
    if isinstance(given, dict):
        return [
            item
            for key, value in given.items()
            for item in ([f"{path}.{key}"] if not isinstance(kept, dict) or key not in kept
                         else _dropped(value, kept[key], f"{path}.{key}"))
        ]
    if isinstance(given, list) and isinstance(kept, list):
        pairs = enumerate(zip(given, kept, strict=True))
        return [item for i, (a, b) in pairs for item in _dropped(a, b, f"{path}[{i}]")]
    return []


def test_every_fc3_prop_and_trigger_config_field_is_one_of_fc3_s_api(s_yaml: dict[str, Any]) -> None:
    """The oracle: the official FC 3.0 SDK's models (``alibabacloud_fc20230330``), whose wire names are what the fc3
    component sends (it builds CreateFunctionInput and CreateTriggerInput from the props as they are). A name FC 3.0
    does not have is dropped silently, or refused (found by review: ``deliveryOption.mode``, an FC 2.0 field)."""
    from alibabacloud_fc20230330 import models

    trigger_configs = {"http": models.HTTPTriggerConfig, "timer": models.TimerTriggerConfig,
                       "eventbridge": models.EventBridgeTriggerConfig}
    unknown: list[str] = []
    for name, resource in s_yaml["resources"].items():
        if resource.get("component") != "fc3":
            continue
        props = resource["props"]
        function = {key: value for key, value in props.items() if key not in FC3_COMPONENT_PROPS}
        unknown += _dropped(function, models.CreateFunctionInput().from_map(function).to_map(), name)
        if "asyncInvokeConfig" in props:
            config = props["asyncInvokeConfig"]
            unknown += _dropped(config, models.PutAsyncInvokeConfigInput().from_map(config).to_map(),
                                f"{name}.asyncInvokeConfig")
        for trigger in props.get("triggers", []):
            where = f"{name}.{trigger['triggerName']}"
            fields = {key: value for key, value in trigger.items() if key != "triggerConfig"}
            unknown += _dropped(fields, models.CreateTriggerInput().from_map(fields).to_map(), where)
            config = trigger["triggerConfig"]
            model = trigger_configs[trigger["triggerType"]]()
            unknown += _dropped(config, model.from_map(config).to_map(), f"{where}.triggerConfig")
    assert unknown == []


def test_every_fc3_function_prop_and_async_config_value_is_within_fc3_s_limits(s_yaml: dict[str, Any]) -> None:
    """The limits of the same API as ROS checks them (``ALIYUN::FC3::Function``, ``ALIYUN::FC3::AsyncInvokeConfig``:
    the ros-cdk-fc3 wheel, tools/ros_schema.py): memory, timeout, description length, instance concurrency, async
    retries and event age. A prop's ROS name is its own with a capital first letter; a ``${...}`` value is
    Serverless Devs' to resolve, and a prop ROS does not know is the SDK test's above."""
    from tools import ros_schema

    schema = ros_schema.load(ros_schema.pinned_wheels())
    function = schema.functions[schema.resources["ALIYUN::FC3::Function"].function]
    async_config = schema.functions[schema.resources["ALIYUN::FC3::AsyncInvokeConfig"].function]
    refused: list[str] = []
    checked = 0
    for name, resource in s_yaml["resources"].items():
        if resource.get("component") != "fc3":
            continue
        props = resource["props"]
        for table, values in ((function, props), (async_config, props.get("asyncInvokeConfig", {}))):
            for key, value in values.items():
                prop = table.get(key[:1].upper() + key[1:])
                if prop is None or (isinstance(value, str) and "${" in value):
                    continue
                checked += 1
                problem = prop.rule.problem(value)
                if problem is not None:
                    refused.append(f"{name}.{key}: {problem}")
    assert refused == []
    assert checked >= 4 * 3  # memory, timeout and description of each function, at least


def test_the_official_fc3_sdk_still_says_true_is_a_synchronous_invocation() -> None:
    """s.yaml's ``asyncInvocationType: true`` rests on the newest FC 3.0 page and on this comment of the official SDK's
    model (alibabacloud-fc20230330): should a release describe the value otherwise, s.yaml must be looked at again."""
    from alibabacloud_fc20230330.models import EventBridgeTriggerConfig

    source = " ".join(inspect.getsource(EventBridgeTriggerConfig.__init__).split())
    assert "- **true**: synchronous call." in source and "- **false**: asynchronous invocation." in source


@pytest.mark.parametrize(("function", "queue_output"), [("result_fetcher", "RecheckQueueName"),
                                                        ("notifier", "NotifyQueueName")])
def test_queue_trigger_reads_its_queue_and_dead_letters_failures(
    s_yaml: dict[str, Any], function: str, queue_output: str
) -> None:
    (trigger,) = triggers(s_yaml, function, "eventbridge")
    config = trigger["triggerConfig"]
    source = config["eventSourceConfig"]
    assert source["eventSourceType"] == "MNS"
    assert source["eventSourceParameters"]["sourceMNSParameters"]["QueueName"] == (
        f"${{resources.{INFRA}.output.{queue_output}}}"
    )
    run = config["runOptions"]
    assert run["mode"] == "event-streaming", "runOptions only apply to event-streaming triggers"
    assert run["errorsTolerance"] == "ALL"
    # Up to a day: each function fails an invocation only when the store or a queue failed (the notifier dead-letters
    # a message it cannot handle; re-checks are retried on their schedule), and an outage must not end a message in
    # EventBridge's dead letter after a minute (review ll: 3 tries, 10-20 s apart, for the notifier's).
    assert run["retryStrategy"]["PushRetryStrategy"] == "EXPONENTIAL_DECAY_RETRY"
    assert run["deadLetterQueue"]["Arn"] == f"${{resources.{INFRA}.output.DeadletterQueueArn}}"
    # Synchronously, as FC 3.0's newest "EventBridgeTriggerConfig" page and the official SDK describe the value (the
    # test below pins the SDK's words): EventBridge then retries and dead-letters a failed invocation.
    assert config["asyncInvocationType"] is True
    # Invoked asynchronously after all (which asyncInvocationType means so is unverified), FC retries a failed
    # invocation: as often (8) and as long (a day) as it allows, not its default 3 ("PutAsyncInvokeConfigInput").
    props = s_yaml["resources"][function]["props"]
    assert props["asyncInvokeConfig"] == {"maxAsyncRetryAttempts": 8, "maxAsyncEventAgeInSeconds": 86400}
    assert 1 <= run["batchWindow"]["CountBasedWindow"] <= 10000
    assert 0 <= run["batchWindow"]["TimeBasedWindow"] <= 15


def test_sweeper_runs_every_five_minutes(s_yaml: dict[str, Any]) -> None:
    (timer,) = triggers(s_yaml, "sweeper", "timer")
    assert timer["triggerConfig"]["cronExpression"] == "@every 5m"
    assert timer["triggerConfig"]["enable"] is True
    assert fc3_functions(s_yaml)["sweeper"]["timeout"] < 300, "a sweep must finish before the next one starts"


def test_sweeper_retention_is_the_stacks_retention_days_unchanged(
    s_yaml: dict[str, Any], template: dict[str, Any]
) -> None:
    env = fc3_functions(s_yaml)["sweeper"]["environmentVariables"]
    assert env["KYC_RETENTION_DAYS"] == f"${{resources.{INFRA}.output.RetentionDays}}"
    assert template["Outputs"]["RetentionDays"]["Value"] == {"Fn::Str": {"Ref": "RetentionDays"}}


def test_no_output_a_function_reads_is_a_bare_number_parameter(
    s_yaml: dict[str, Any], template: dict[str, Any]
) -> None:
    """FC's environment variables are strings: an output that is a Number parameter as is could reach a function's
    environment as a number. ``Fn::Str`` makes it text ("Fn::Str", ROS functions)."""
    read = {name for function in fc3_functions(s_yaml).values()
            for value in (function.get("environmentVariables") or {}).values()
            for name in re.findall(rf"\$\{{resources\.{INFRA}\.output\.(\w+)\}}", str(value))}
    numbers = {name for name, parameter in template["Parameters"].items() if parameter.get("Type") == "Number"}
    bare = [name for name in sorted(read) if template["Outputs"][name]["Value"] in ({"Ref": p} for p in numbers)]
    assert read and bare == []


def condition(template: dict[str, Any], name: str, parameters: dict[str, Any]) -> bool:
    """Template condition ``name`` with ``parameters`` (a parameter not given takes its Default). Fn::Equals is
    Python's ``==``, no conversion between "0" and 0: "Resource Orchestration Service:Fn::Equals" documents none."""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((function, args),) = node.items()
            if function == "Ref":
                return parameters.get(args, template["Parameters"][args].get("Default"))
            if function == "Condition":
                return value(template["Conditions"][args])
            if function == "Fn::Equals":
                left, right = (value(a) for a in args)
                return left == right
            if function == "Fn::Not":
                (operand,) = args
                return not value(operand)
            if function == "Fn::Or":
                return any(value(a) for a in args)
            if function == "Fn::And":
                return all(value(a) for a in args)
            raise AssertionError(f"condition function {function} is not modelled here")
        return node

    return bool(value(template["Conditions"][name]))


def test_retention_zero_means_keep_forever_in_the_stack_as_in_the_sweeper(template: dict[str, Any]) -> None:
    from shared.sweeper import SweepSettings

    assert template["Parameters"]["RetentionDays"]["MinValue"] == 0, "one meaning: no negative 'keep' value"
    assert SweepSettings.from_env({"KYC_RETENTION_DAYS": "0"}).retention_days == 0  # the sweeper's "keep"
    with pytest.raises(ConfigError):
        SweepSettings.from_env({"KYC_RETENTION_DAYS": "-1"})


# ------------------------------------------------------------------------------------------------ RAM


def test_no_ram_statement_grants_wildcard_actions(template: dict[str, Any]) -> None:
    for role, statement in statements(template):
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{role}: wildcard action {action}"


def test_wildcard_resources_only_for_services_without_resource_level_permissions(template: dict[str, Any]) -> None:
    wildcard = [(role, s) for role, s in statements(template) if "*" in as_list(s["Resource"])]
    assert wildcard, "expected the antcloudauth statements"
    for role, statement in wildcard:
        services = {action.split(":", 1)[0] for action in as_list(statement["Action"])}
        assert services <= NO_RESOURCE_LEVEL, f"'*' resource for {sorted(services)}"
        # ... and it says why, in a comment right above the statement (or a Condition narrowing it).
        if "Condition" in statement:
            continue
        assert any("resource-level" in c for c in comment_above(statement, role)), f"{statement}: no comment says why"


def test_no_resource_wildcard_outside_the_stacks_own_resources(template: dict[str, Any]) -> None:
    for _, statement in statements(template):
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                continue
            text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
            # The account and the resource name are always pinned; only object keys under the prefix are open.
            assert "${ALIYUN::AccountId}" in text, text
            assert not text.endswith(":*") and ":*:*:" not in text, text


def test_no_statement_carries_a_key_outside_the_documented_grammar(template: dict[str, Any]) -> None:
    for role, statement in statements(template):
        assert set(statement) <= STATEMENT_KEYS, f"{role}: {sorted(set(statement) - STATEMENT_KEYS)}"


#: What each function's code calls, service by service, as RAM actions. Kept honest by
#: test_the_calls_table_is_what_each_functions_code_makes (which service each builder opens, and what each service
#: does with it); each function's role grants exactly this.
START_ACTIONS = {f"antcloudauth:{product.start_operation}" for product in products.PRODUCTS.values()
                 if product.supported and product.start_operation}  # fmt: skip
FETCH_ACTIONS = {"antcloudauth:CheckResult", "antcloudauth:DeleteVerifyResult"}
#: Row calls, table by table, in tests/test_role_calls.py (from real runs on the doubles); here their union.
#: create and read a row; count in the rate table, and delete an Idempotency-Key's claim there when giving it back
START_ROWS = {"ots:GetRow", "ots:PutRow", "ots:UpdateRow", "ots:DeleteRow"}
KEEP_ROWS = {"ots:GetRow", "ots:UpdateRow"}  # read, verdicts, checks, the outbox
#: The sweeper's besides: retention's and erasure's deletions, the due and creation-time indexes and the rows they list.
SWEEP_ROWS = {"ots:DeleteRow", "ots:BatchGetRow", "ots:GetRange"}
KEEP_OBJECTS = {"oss:PutObject", "oss:DeleteObject", "oss:DeleteObjectVersion", "oss:ListObjects",
                "oss:ListObjectVersions"}  # fmt: skip
LOG_ACTIONS = {"log:PostLogStoreLogs"}
FUNCTION_CALLS: dict[str, set[str]] = {
    "initializer": START_ACTIONS | START_ROWS | LOG_ACTIONS,
    "result_fetcher": FETCH_ACTIONS | KEEP_ROWS | KEEP_OBJECTS | {"mns:SendMessage"} | LOG_ACTIONS
    | {"kms:GenerateDataKey", "kms:Decrypt"},
    "notifier": {"ots:GetRow", "oss:GetObject", "mns:SendMessage", "kms:Decrypt"} | LOG_ACTIONS,
}
FUNCTION_CALLS["sweeper"] = FUNCTION_CALLS["result_fetcher"] | SWEEP_ROWS
#: The queues each function sends to (shared/wiring.py: the queues its builder opens).
QUEUES_SENT = {"initializer": set(), "result_fetcher": {"recheck", "notify"}, "notifier": {"notify", "deadletter"},
               "sweeper": {"recheck", "notify"}}  # fmt: skip


def _attribute_calls(path: Path, receiver: str) -> set[str]:
    """The methods called on ``self.<receiver>`` or ``<receiver>`` in ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name == receiver:
                found.add(node.func.attr)
    return found


def test_the_calls_table_is_what_each_functions_code_makes() -> None:
    """The facts FUNCTION_CALLS and QUEUES_SENT rest on, read from the code: which services each builder opens, and
    what each service calls on its client and its object store."""
    from shared import wiring
    from shared.notifications import Notifier
    from shared.verifications import Verifications

    # initializer: Verifications(settings, client, store): no object store, no queue
    assert set(inspect.signature(Verifications).parameters) == {"settings", "client", "store", "clock", "offer"}
    # notifier: no vendor client; reads objects only (a stored result, for includePii)
    assert "client" not in inspect.signature(wiring.build_notifier).parameters
    assert "client" not in inspect.signature(Notifier).parameters
    assert _attribute_calls(ROOT / "shared" / "notifications.py", "objects") == {"get"}
    # result_fetcher and sweeper: write and delete objects, never read them back
    kept = _attribute_calls(ROOT / "shared" / "fetcher.py", "objects") | _attribute_calls(
        ROOT / "shared" / "sweeper.py", "objects")
    assert kept == {"put", "delete_prefix"}
    # the vendor: the start operations only from the initializer's service, CheckResult/DeleteVerifyResult from
    # the fetcher's
    assert _attribute_calls(ROOT / "shared" / "fetcher.py", "client") == {"check_result", "delete_verify_result"}
    assert not _attribute_calls(ROOT / "shared" / "verifications.py", "client") & {"check_result",
                                                                                     "delete_verify_result"}
    # queues: each builder opens exactly the queues QUEUES_SENT lists
    builders = {"initializer": wiring.build_verifications, "result_fetcher": wiring.build_fetcher,
                "notifier": wiring.build_notifier, "sweeper": wiring.build_sweeper}  # fmt: skip
    for function, builder in builders.items():
        opened = set(re.findall(r"queue(?:_on_first_send)?\(\"(\w+)\"\)", inspect.getsource(builder)))
        if function in ("result_fetcher", "sweeper"):  # through the fetcher both build
            opened |= set(re.findall(r"queue(?:_on_first_send)?\(\"(\w+)\"\)",
                                     inspect.getsource(wiring._result_fetcher)))
        assert opened == QUEUES_SENT[function], function


@pytest.mark.parametrize("role", ROLES)
def test_each_role_grants_exactly_what_its_functions_call(template: dict[str, Any], role: str) -> None:
    from shared.storage.mns import RAM_ACTIONS as MNS_ACTIONS

    granted = {action for _, s in statements(template, role) for action in as_list(s["Action"])}
    needed = set().union(*(FUNCTION_CALLS[f] for f, r in ROLE_OF.items() if r == role))
    assert granted == needed
    # and every queue call the functions' code makes is a SendMessage
    assert {MNS_ACTIONS[call][0] for call in queue_calls(function_code())} == {"mns:SendMessage"}


def test_every_operation_the_functions_call_is_granted_to_one_role_or_another(template: dict[str, Any]) -> None:
    granted = {action for _, s in statements(template) for action in as_list(s["Action"])}
    assert granted >= CLOUDAUTH_ACTIONS


def test_object_access_is_limited_to_the_results_prefix(template: dict[str, Any]) -> None:
    for role in ("FetcherRole", "SweeperRole"):
        writes = statement_granting(template, "oss:PutObject", role)
        assert [r["Fn::Sub"] for r in writes["Resource"]] == [
            "acs:oss:*:${ALIYUN::AccountId}:${ResultsBucket.Name}/${ResultsPrefix}*"
        ]
    reads = statement_granting(template, "oss:GetObject")
    assert [r["Fn::Sub"] for r in reads["Resource"]] == [
        "acs:oss:*:${ALIYUN::AccountId}:${ResultsBucket.Name}/${ResultsPrefix}*/result.json"
    ]
    for role in ("FetcherRole", "SweeperRole"):
        listing = statement_granting(template, "oss:ListObjects", role)
        assert listing["Condition"]["StringLike"]["oss:Prefix"] == [{"Fn::Sub": "${ResultsPrefix}*"}]


def test_the_functions_know_whether_the_bucket_is_versioned_from_the_stack(s_yaml: dict[str, Any],
                                                                           template: dict[str, Any]) -> None:
    assert template["Outputs"]["BucketVersioning"]["Value"] == {"Ref": "EnableVersioning"}
    for function in DEPLOYED:
        env = fc3_functions(s_yaml)[function]["environmentVariables"]
        assert env["KYC_BUCKET_VERSIONING"] == "${resources.kyc-infra.output.BucketVersioning}"


def test_the_functions_name_the_stacks_customer_key_in_every_put(s_yaml: dict[str, Any],
                                                                 template: dict[str, Any]) -> None:
    """The stack makes KmsKeyId the bucket's default and grants the role that key; a PutObject asking for KMS without
    naming it would get the OSS-managed key instead, so the functions are told the key."""
    assert template["Outputs"]["KmsKeyId"]["Value"] == {"Ref": "KmsKeyId"}
    for function in DEPLOYED:
        env = fc3_functions(s_yaml)[function]["environmentVariables"]
        assert env["KYC_OSS_KMS_KEY_ID"] == "${resources.kyc-infra.output.KmsKeyId}"


def test_the_default_instance_name_has_none_of_the_words_tablestore_refuses(template: dict[str, Any]) -> None:
    name = template["Parameters"]["OtsInstanceName"]["Default"]
    assert not any(word in name for word in ("ali", "ay", "ots", "taobao", "admin"))


@pytest.mark.parametrize("name", ["KycProd", "kyc-Ekyc"])
def test_the_instance_name_must_be_lower_case_as_ram_matches_it(template: dict[str, Any], name: str) -> None:
    """Tablestore "Custom RAM policy": instance names are case-insensitive and a Resource must name the instance in
    lower case; a name with capitals would leave every grant of the role matching nothing."""
    pattern = template["Parameters"]["OtsInstanceName"]["AllowedPattern"]
    assert re.fullmatch(pattern, name) is None
    assert re.fullmatch(pattern, name.lower()) is not None


def test_table_access_is_limited_to_the_transactions_tables_and_their_indexes(template: dict[str, Any]) -> None:
    from shared.storage.tablestore_schema import Schema

    schema = Schema("${TableName}")
    names = {schema.table, schema.rate_table, schema.due_index, schema.by_user_index, schema.by_time_index}
    arns = {f"acs:ots:${{ALIYUN::Region}}:${{ALIYUN::AccountId}}:instance/${{OtsInstanceName}}/table/{name}"
            for name in names}  # fmt: skip
    for role in ROLES:
        granted = [r["Fn::Sub"] for _, s in statements(template, role)
                   if any(a.startswith("ots:") for a in as_list(s["Action"])) for r in s["Resource"]]  # fmt: skip
        assert granted and set(granted) <= arns, role


def function_code() -> list[Path]:
    """The functions' own code: functions/ and shared/, the storage adapters (which define the calls) aside."""
    shared = [p for p in (ROOT / "shared").rglob("*.py") if p.relative_to(ROOT / "shared").parts[0] != "storage"]
    return [*FUNCTIONS_DIR.rglob("*.py"), *shared]


def queue_calls(paths: list[Path]) -> set[str]:
    """The ``MnsQueue`` calls (the methods shared/storage/mns.py RAM_ACTIONS names) made on a queue in ``paths``:
    ``<...queue...>.<method>(...)``, the receiver an attribute, a name or a call whose name says queue."""
    from shared.storage.mns import RAM_ACTIONS as MNS_ACTIONS

    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value.func if isinstance(node.func.value, ast.Call) else node.func.value
            name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
            if node.func.attr in MNS_ACTIONS and "queue" in name.lower():
                found.add(node.func.attr)
    return found


def test_the_queue_call_scan_sees_the_operator_tools_receive_delete_and_hide() -> None:
    # the scan can tell a consumer from a producer: the dead-letter tools consume with the operator's key
    operator_tools = sorted((ROOT / "tools" / "ops").rglob("*.py"))
    assert {"receive", "delete", "change_visibility", "peek"} <= queue_calls(operator_tools)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_only_send_to_the_stacks_queues_its_functions_send_to(
    template: dict[str, Any], role: str
) -> None:
    from shared.storage.mns import RAM_ACTIONS as MNS_ACTIONS

    calls = queue_calls(function_code())
    assert "send" in calls, "the scan found no SendMessage: it is broken"
    queues = set().union(*(QUEUES_SENT[f] for f, r in ROLE_OF.items() if r == role))
    granting = [s for _, s in statements(template, role) if any(a.startswith("mns:") for a in as_list(s["Action"]))]
    if not queues:
        assert granting == [], f"{role} sends to no queue"
        return
    (statement,) = granting
    assert set(as_list(statement["Action"])) == {MNS_ACTIONS[call][0] for call in calls}
    names = {kind: queue["Properties"]["QueueName"]["Fn::Sub"]
             for kind, queue in (("recheck", template["Resources"]["RecheckQueue"]),
                                 ("notify", template["Resources"]["NotifyQueue"]),
                                 ("deadletter", template["Resources"]["DeadletterQueue"]))}  # fmt: skip
    assert sorted(r["Fn::Sub"] for r in statement["Resource"]) == sorted(
        f"acs:mns:${{ALIYUN::Region}}:${{ALIYUN::AccountId}}:/queues/{names[q]}" + MNS_ACTIONS[call][1]
        for q in queues for call in calls
    )


@pytest.mark.parametrize("role", ROLES)
def test_kms_permission_exists_only_with_a_customer_key(template: dict[str, Any], role: str) -> None:
    policy = role_properties(template, role)["Policies"][0]["PolicyDocument"]["Statement"]
    conditional = [s for s in policy if "Fn::If" in s]
    if role == "InitializerRole":  # it never touches an object
        assert conditional == []
        return
    (statement,) = conditional
    condition, when_cmk, otherwise = statement["Fn::If"]
    assert condition == "UseCustomerKey"
    assert otherwise == {"Ref": "ALIYUN::NoValue"}
    assert when_cmk["Resource"] == [{"Fn::Sub": "acs:kms:${ALIYUN::Region}:${ALIYUN::AccountId}:key/${KmsKeyId}"}]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_assumable_only_by_function_compute(template: dict[str, Any], role: str) -> None:
    (trust,) = role_properties(template, role)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"Service": ["fc.aliyuncs.com"]}


# ------------------------------------------------------------------------------------------------ storage


def test_bucket_is_private_and_kms_encrypted(template: dict[str, Any]) -> None:
    (bucket,) = resources_of_type(template, "ALIYUN::OSS::Bucket").values()
    props = bucket["Properties"]
    assert props["AccessControl"] == "private"
    assert props["ServerSideEncryptionConfiguration"]["SSEAlgorithm"] == "KMS"


def test_bucket_expires_results_after_retention_days(template: dict[str, Any]) -> None:
    (bucket,) = resources_of_type(template, "ALIYUN::OSS::Bucket").values()
    (expiry,) = [r for r in bucket["Properties"]["LifecycleConfiguration"]["Rule"] if "Expiration" in r]
    assert expiry["Prefix"] == {"Ref": "ResultsPrefix"}
    assert expiry["Expiration"]["Days"]["Fn::If"][:2] == ["HasRetention", {"Ref": "RetentionDays"}]
    assert expiry["Status"] == {"Fn::If": ["HasRetention", "Enabled", "Disabled"]}
    assert template["Parameters"]["ResultsPrefix"]["Default"] == "results/"


@pytest.mark.parametrize(("days", "kept_for_ever"), [("0", True), (0, True), ("90", False), (90, False)],
                         ids=["string 0", "number 0", "string 90", "number 90"])
def test_retention_zero_keeps_everything_whether_ros_reads_the_parameter_as_a_string_or_a_number(
    template: dict[str, Any], days: Any, kept_for_ever: bool
) -> None:
    """The ros component passes parameters as strings; a Number parameter's Ref may still be a number."""
    assert condition(template, "HasRetention", {"RetentionDays": days}) is not kept_for_ever


@pytest.mark.parametrize(("key_id", "customer_key"), [(None, False), ("", False), ("1234abcd-key", True)])
def test_an_empty_kms_key_id_means_the_oss_managed_key(
    s_yaml: dict[str, Any], template: dict[str, Any], key_id: str | None, customer_key: bool
) -> None:
    assert s_yaml["resources"][INFRA]["props"]["parameters"]["KmsKeyId"] == "${env('KYC_KMS_KEY_ID', '')}"
    given = {} if key_id is None else {"KmsKeyId": key_id}
    assert condition(template, "UseCustomerKey", given) is customer_key


def test_retention_defaults_to_90_days(s_yaml: dict[str, Any], template: dict[str, Any]) -> None:
    assert template["Parameters"]["RetentionDays"]["Default"] == 90
    assert s_yaml["resources"][INFRA]["props"]["parameters"]["RetentionDays"] == "${env('KYC_RETENTION_DAYS', '90')}"


def _sub(value: Any, table: str = "${TableName}") -> str:
    """A name in the template, written either as {Ref: TableName} or as Fn::Sub over it."""
    if value == {"Ref": "TableName"}:
        return table
    return str(value["Fn::Sub"])


def test_the_template_creates_the_tables_and_indexes_tablestore_schema_defines(template: dict[str, Any]) -> None:
    from shared.storage.tablestore_schema import Schema

    tables = {_sub(t["Properties"]["TableName"]): t for t in resources_of_type(template, "ALIYUN::OTS::Table").values()}
    schema = Schema("${TableName}")
    assert set(tables) == {d.name for d in schema.tables()}
    for definition in schema.tables():
        props = tables[definition.name]["Properties"]
        assert tables[definition.name]["Condition"] == "CreatesTables"
        assert props["PrimaryKey"] == [{"Name": n, "Type": t} for n, t in definition.primary_key]
        assert props["MaxVersions"] == definition.max_versions
        assert props["TimeToLive"] == definition.time_to_live
        assert props.get("Columns", []) == [{"Name": n, "Type": t} for n, t in definition.defined_columns]
        indexes = [
            (_sub(i["IndexName"]), i["IndexType"], i["PrimaryKeys"], i["Columns"])
            for i in props.get("SecondaryIndices", [])
        ]
        assert indexes == [(i.name, "Global", list(i.primary_key), list(i.attributes)) for i in definition.indexes]


def test_the_stack_can_leave_the_tables_to_setup_tables(template: dict[str, Any]) -> None:
    assert template["Parameters"]["CreateTables"]["AllowedValues"] == ["true", "false"]
    assert template["Conditions"]["CreatesTables"] == {"Fn::Equals": [{"Ref": "CreateTables"}, "true"]}
    assert template["Outputs"]["OtsTableName"]["Value"] == {"Ref": "TableName"}  # whoever created it


def test_stored_data_survives_stack_deletion(template: dict[str, Any]) -> None:
    for kind in ("ALIYUN::OSS::Bucket", "ALIYUN::OTS::Instance", "ALIYUN::OTS::Table"):
        for name, resource in resources_of_type(template, kind).items():
            assert resource.get("DeletionPolicy") == "Retain", f"{name} would be deleted by `s remove`"


def test_queues_exist_with_seven_day_retention_and_64_kb_limit(template: dict[str, Any]) -> None:
    """The retention the functions' longest delays are kept within (shared.config.QUEUE_RETENTION_SECONDS)."""
    from shared.config import QUEUE_RETENTION_SECONDS

    assert QUEUE_RETENTION_SECONDS == 7 * 24 * 3600
    queues = resources_of_type(template, "ALIYUN::MNS::Queue").values()
    names = {q["Properties"]["QueueName"]["Fn::Sub"] for q in queues}
    assert names == {"${NamePrefix}-recheck", "${NamePrefix}-notify", "${NamePrefix}-deadletter"}
    for queue in queues:
        assert queue["Properties"]["MessageRetentionPeriod"] == QUEUE_RETENTION_SECONDS
        assert queue["Properties"]["MaximumMessageSize"] <= 64 * 1024


@pytest.mark.parametrize("prefix", ["kyc", "ab", "a" + "9" * 14, "a" + "-" * 14])
def test_every_queue_name_the_template_can_make_is_one_mns_accepts(template: dict[str, Any], prefix: str) -> None:
    assert re.fullmatch(template["Parameters"]["NamePrefix"]["AllowedPattern"], prefix)
    for queue in resources_of_type(template, "ALIYUN::MNS::Queue").values():
        name = queue["Properties"]["QueueName"]["Fn::Sub"].replace("${NamePrefix}", prefix)
        assert check_queue_name(name) == name


def test_function_logs_have_a_project_and_logstore(template: dict[str, Any]) -> None:
    assert len(resources_of_type(template, "ALIYUN::SLS::Project")) == 1
    (store,) = resources_of_type(template, "ALIYUN::SLS::Logstore").values()
    assert store["Properties"]["EncryptConf"]["Enable"] is True
    for role in ROLES:
        log = statement_granting(template, "log:PostLogStoreLogs", role)
        assert log["Resource"][0]["Fn::Sub"].endswith("/logstore/functions")
    assert store["Properties"]["LogstoreName"] == "functions"


def test_cloudauth_grants_are_in_the_antcloudauth_namespace_only(template: dict[str, Any]) -> None:
    granted = {action for _, s in statements(template) for action in as_list(s["Action"])}
    assert granted >= CLOUDAUTH_ACTIONS
    wrong_namespace = [a for a in granted if a.startswith(("cloudauth-intl:", "cloudauth:"))]
    assert not wrong_namespace, "not ID Verification's RAM namespace"
    assert not [a for a in granted if a.split(":", 1)[0] == "antcloudauth" and a not in CLOUDAUTH_ACTIONS]


def test_the_role_may_call_every_operation_a_supported_product_starts_with() -> None:
    called = {"antcloudauth:Initialize", "antcloudauth:CheckResult", "antcloudauth:DeleteVerifyResult"}
    assert called <= CLOUDAUTH_ACTIONS
    for code in products.SUPPORTED:
        assert f"antcloudauth:{products.PRODUCTS[code].start_operation}" in CLOUDAUTH_ACTIONS


def test_cloudauth_statement_cites_its_source_and_says_what_is_unverified(template: dict[str, Any]) -> None:
    comment = " ".join(comment_above(statement_granting(template, "antcloudauth:Initialize"), "InitializerRole"))
    for needed in ("Forbidden.RAMUserAccessDenied", "AliyunAntCloudAuthFullAccess", "antcloudauth:*",
                   "UNVERIFIED: per-API action names follow RAM's <service>:<Action> convention"):
        assert needed in comment, needed


# ------------------------------------------------------------------------------------------------ regions, build, VPC


def test_default_regions_are_a_pair_the_vendor_offers_for_the_default_product(s_yaml: dict[str, Any]) -> None:
    from shared.cloudauth import CloudAuthSettings

    creds = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk"}
    assert CloudAuthSettings.from_env(creds).product_code == "eKYC"
    # eKYC exists only in China (Hong Kong) ("ID Verification:ID Verification" product directory).
    assert s_yaml["vars"]["cloudauthRegion"] == "${env('CLOUDAUTH_REGION', 'cn-hongkong')}"
    assert s_yaml["vars"]["region"] == "${env('KYC_REGION', 'cn-hongkong')}", "functions next to the vendor"


def test_s_deploy_builds_first_with_a_pre_deploy_action(s_yaml: dict[str, Any]) -> None:
    assert s_yaml["actions"]["pre-deploy"] == [{"run": "./scripts/package", "path": "./"}]
    assert (ROOT / "scripts" / "package").stat().st_mode & 0o111, "scripts/package must be executable"


@pytest.mark.parametrize("function", DEPLOYED)
def test_functions_deploy_without_a_vpc_by_default(s_yaml: dict[str, Any], function: str) -> None:
    props = fc3_functions(s_yaml)[function]
    assert "vpcConfig" not in props
    assert props["environmentVariables"]["CLOUDAUTH_USE_VPC_ENDPOINT"] == "${env('CLOUDAUTH_USE_VPC_ENDPOINT', 'N')}"


@pytest.mark.parametrize("function", DEPLOYED)
def test_vpc_variant_attaches_every_function_to_the_operators_vpc(function: str) -> None:
    props = fc3_functions(vpc_variant())[function]
    assert props["vpcConfig"] == {
        "vpcId": "${env('KYC_VPC_ID')}",
        "vSwitchIds": ["${env('KYC_VSWITCH_ID')}"],
        "securityGroupId": "${env('KYC_SECURITY_GROUP_ID')}",
    }
    assert props["internetAccess"] is True, "Tablestore, MNS and webhooks are reached over public endpoints"


def test_vpc_variant_changes_nothing_but_the_vpc(s_yaml: dict[str, Any]) -> None:
    variant = vpc_variant()
    for props in fc3_functions(variant).values():
        del props["vpcConfig"]
    del variant["vars"]["vpc"]
    assert variant == s_yaml


def test_a_notify_message_s_delivery_budget_fits_the_notifier_timeout_and_the_queues_visibility(
    s_yaml: dict[str, Any], template: dict[str, Any]
) -> None:
    """WebhookSettings refuses a KYC_WEBHOOK_TIMEOUT whose rounds of deliveries exceed DELIVERY_BUDGET_SECONDS;
    the budget must leave the notifier room to read the row and enqueue follow-ups before FC ends it, and end before
    the message would be delivered again (MNS visibility; the local worker's)."""
    from shared.notifications import DELIVERY_BUDGET_SECONDS
    from tools.devstack.worker import DEFAULT_SUBSCRIPTIONS

    notifier_timeout = fc3_functions(s_yaml)["notifier"]["timeout"]
    visibility = template["Resources"]["NotifyQueue"]["Properties"]["VisibilityTimeout"]
    assert notifier_timeout >= DELIVERY_BUDGET_SECONDS + 10
    assert visibility >= DELIVERY_BUDGET_SECONDS + 10
    (notify,) = [s for s in DEFAULT_SUBSCRIPTIONS if s.function_name == "notifier"]
    assert notify.visibility_timeout > DELIVERY_BUDGET_SECONDS


# ------------------------------------------------------------------------------------------------ time budgets
#
# A function's timeout must cover its longest path up to where a budget check guarantees the rest: the calls the
# functions' own code makes (recorded by running it on the local backends, one scenario per long branch), each
# costed at the longest its deadline, timeouts and retries allow, from the code's constants. FC ending the
# initializer between a billed Initialize and its stored row would leave a billed verification nobody can complete
# or find: the initializer makes that call only when its invocation budget (shared/fc/budget.py) covers it, the
# row and one more store call (Verifications._guaranteed_seconds: the row's read-back after a create that may have
# been applied, or a keyed start's give-back of its key), so its timeout need only leave room for that after one
# claim of the rate limit at its deadlines; what comes before the check is cut off by the check (503 TryAgain, the
# slot given back), what comes after a refusal the vendor certainly did not bill (giving the slot back) may be cut
# off by FC harmlessly (the slot stays counted, as when giving it back fails). result_fetcher and the notifier
# check no budget: they are redelivered, but a timeout under their worst case turns a slow, working service into
# crashes and duplicates, so theirs covers the whole path.

#: The work between the calls (parsing, signing, image decoding, an SDK's import at its first call) is in no
#: bound below: 10 % on top of the calls.
TIMEOUT_MARGIN = 1.1
#: "Function Compute: What can I do if my function exceeds the timeout period?": at most 24 hours.
FC_MAX_TIMEOUT_SECONDS = 24 * 3600
#: "Function Compute: Advanced features of triggers": a custom event source trigger (MNS queue triggers among them),
#: synchronous or asynchronous, waits for an invocation at most 5 minutes ("Maximum timeout period: 5 minutes").
QUEUE_TRIGGER_WAIT_SECONDS = 5 * 60
OWNER = "f" * 64
#: Settings that lengthen a path (a vendor call's deadline): s.yaml leaves them at the code's defaults, which the
#: budgets below use. (KYC_WEBHOOK_TIMEOUT no longer does: however short, the subscribers stay at most
#: MAX_SUBSCRIBERS, whose deliveries share one budget.)
BUDGET_SETTINGS = frozenset({"CLOUDAUTH_CALL_DEADLINE"})


def tablestore_call_seconds() -> float:
    """One Tablestore call: its retries and backoffs included, at most the store's call deadline
    (shared/storage/tablestore_store.py, "Deadlines"; the default: retry window + connect + read timeouts)."""
    from shared.storage.tablestore_store import TablestoreTransactionStore

    return TablestoreTransactionStore(client=object(), table="t").call_deadline


def oss_call_seconds() -> float:
    """One OSS call: its attempts and the SDK's backoffs included, at most the store's call deadline
    (shared/storage/oss.py; the default: connect + read timeouts)."""
    from shared.signing import Credentials
    from shared.storage.oss import OssObjectStore

    return OssObjectStore(bucket="b", region="cn-hongkong", credentials=Credentials("ak", "sk")).call_deadline


def vendor_call_seconds() -> float:
    """One ID Verification call: every attempt and backoff within ``CLOUDAUTH_CALL_DEADLINE``."""
    from shared.cloudauth import CloudAuthSettings

    creds = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk"}
    return CloudAuthSettings.from_env(creds).call_deadline


#: Images a result carries under names no response table documents, found by their content and stored apart
#: (``shared.results.images.images_by_content``): ExtFaceInfo's sample shows ``extraFaceImg``, a list (review ab: the
#: budget counted none). More of them make the longest path longer by a put and a delete each: under an OSS slow to
#: its deadline on every call, such a fetch may run out of time and is retried, never loses anything.
BUDGETED_IMAGES_BY_CONTENT = 2


def max_result_objects() -> int:
    """What one verification keeps in the bucket: each image a result can carry (by name, and found by content up to
    ``BUDGETED_IMAGES_BY_CONTENT``), and result.json."""
    from shared.results import Images

    return len(Images.__slots__) + BUDGETED_IMAGES_BY_CONTENT + 1


def tablestore_calls(method: str) -> int:
    """The most Tablestore calls one ``TablestoreTransactionStore`` method makes: a conditional loop is its attempts
    × (read + write); mark_vendor_copy_deleted tries two conditional updates."""
    from shared.storage.tablestore_store import RATE_ATTEMPTS, RECORD_CHECK_ATTEMPTS

    loops = {"record_check": RECORD_CHECK_ATTEMPTS, "increment_rate_counter": RATE_ATTEMPTS,
             "decrement_rate_counter": RATE_ATTEMPTS, "take_claim": RATE_ATTEMPTS}  # fmt: skip
    if method == "increment_rate_counter":  # and the read that says whether its last write was applied
        return 2 * loops[method] + 1
    if method == "record_check":  # each round: the read, the write, the read-back of its mark (review xx)
        return 3 * loops[method]
    # finalize over an ABANDONED row: the PENDING update fails, a read, the ABANDONED update (found by review q) and,
    # when a rival's verdict landed meanwhile, the read-back of its mark (review ab)
    singles = {"get": 1, "create": 1, "finalize": 4, "delete": 1, "mark_notification_enqueued": 1,
               "mark_vendor_copy_deleted": 2, "give_back_claim": 1}  # fmt: skip
    return 2 * loops[method] if method in loops else singles[method]


def object_calls(method: str) -> int:
    """OSS calls one after another per object-store method: delete_prefix lists (one page: 1000 keys) then deletes
    the objects, ``MAX_PARALLEL_DELETES`` at once; on a versioned bucket (KYC_BUCKET_VERSIONING) the versions, then
    the delete markers (review ax), and a second listing says nothing is left (found by review xx)."""
    from shared.storage.oss import MAX_PARALLEL_DELETES

    if method == "delete_prefix":
        return 2 + 2 * rounds(max_result_objects(), MAX_PARALLEL_DELETES)
    return {"put": 1, "get": 1, "delete": 1}[method]


def rounds(calls: int, at_once: int) -> int:
    return -(-calls // at_once)


#: A call the code ran on a pool thread (shared.parallel) is logged with this suffix: the calls of one batch run side
#: by side, ``parallel_limit`` at once, and end before the code goes on.
ON_POOL = "@pool"


def parallel_limit(call: str) -> int:
    from shared.fetcher import MAX_PARALLEL_PUTS
    from shared.notifications import MAX_PARALLEL_DELIVERIES

    return {"objects.put": MAX_PARALLEL_PUTS, "queue.send": MAX_PARALLEL_DELIVERIES}[call]


def calls_named(path: list[str], call: str) -> int:
    """How many ``call`` calls ``path`` made, on the calling thread or a pool's."""
    return sum(entry.removesuffix(ON_POOL) == call for entry in path)


def call_seconds(call: str) -> float:
    from shared.storage.mns import DEFAULT_TIMEOUT as MNS_CALL_DEADLINE

    service, method = call.split(".", 1)
    if service == "store":
        return tablestore_calls(method) * tablestore_call_seconds()
    if service == "objects":
        return object_calls(method) * oss_call_seconds()
    if service == "queue":
        return MNS_CALL_DEADLINE  # each MnsQueue call's whole exchange
    if service == "vendor":
        return vendor_call_seconds()
    assert service == "webhooks", call
    return 0.0  # a message's deliveries share one budget, counted once (path_seconds)


def path_seconds(path: list[str]) -> float:
    """The calls at their deadlines: one after another, but a batch run side by side (consecutive calls of one name
    on pool threads) costs a call per ``parallel_limit`` of them. Two batches in a row (a failed batch's calls sent
    again) are counted as one: exact when each is a multiple of the limit, as in the scenarios here."""
    from shared.notifications import DELIVERY_BUDGET_SECONDS

    deliveries = DELIVERY_BUDGET_SECONDS if any(call.startswith("webhooks.") for call in path) else 0.0
    total, index = 0.0, 0
    while index < len(path):
        call = path[index]
        batch = 1
        if call.endswith(ON_POOL):
            while index + batch < len(path) and path[index + batch] == call:
                batch += 1
            call = call.removesuffix(ON_POOL)
            total += rounds(batch, parallel_limit(call)) * call_seconds(call)
        else:
            total += call_seconds(call)
        index += batch
    return total + deliveries


class Recorder:
    """Wraps a store, object store, queue or client: logs ``<name>.<method>`` for every call (``ON_POOL`` appended
    when a pool's thread made it), after running the method's ``hooks`` entry (which may raise: the call then
    fails)."""

    def __init__(self, inner: Any, name: str, log: list[str], hooks: dict[str, Any] | None = None) -> None:
        self._inner, self._name, self._log, self._hooks = inner, name, log, hooks or {}
        self._thread = threading.get_ident()  # the code's calling thread; any other is a pool's

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            on_pool = threading.get_ident() != self._thread
            self._log.append(f"{self._name}.{attr}{ON_POOL if on_pool else ''}")
            if attr in self._hooks:
                self._hooks[attr]()
            return target(*args, **kwargs)

        return call


def batch_size(s_yaml: dict[str, Any], function: str) -> int:
    (trigger,) = triggers(s_yaml, function, "eventbridge")
    return int(trigger["triggerConfig"]["runOptions"]["batchWindow"]["CountBasedWindow"])


def initializer_paths(root: Path) -> dict[str, list[str]]:
    """POST /verifications: billed (the row is stored), the same with an Idempotency-Key (its rows are read first:
    three in the last minutes of a UTC day), and not billed (the rate slot is given back)."""
    from shared.cloudauth import ThrottlingError
    from shared.storage import SqliteTransactionStore
    from shared.verifications import Refused, Verifications
    from tests.fakes import T0, FakeClock, FakeCloudAuth
    from tests.test_initializer_app import META, _settings

    near_midnight = T0 - T0 % 86400 + 86400 - 60  # a keyed start then reads the next day's id too (review bb)
    paths = {}
    for scenario, error in (("billed", None), ("billed, keyed", None), ("not billed", ThrottlingError("busy"))):
        log: list[str] = []
        store = SqliteTransactionStore(root / f"{scenario}.sqlite3")
        client = FakeCloudAuth()
        client.initialize_error = error
        clock = FakeClock(near_midnight if scenario.endswith("keyed") else T0)
        service = Verifications(settings=_settings(), client=Recorder(client, "vendor", log),  # type: ignore[arg-type]
                                store=Recorder(store, "store", log), clock=clock)  # type: ignore[arg-type]
        try:
            service.start(OWNER, {"docType": "01000000", "metaInfo": META},
                          idempotency_key="order-1" if scenario.endswith("keyed") else None)
        except Refused as refusal:
            assert (scenario, refusal.code) == ("not billed", "VendorBusy")
        store.close()
        paths[scenario] = log
    return paths


def result_fetcher_paths(root: Path, batch: int) -> dict[str, list[str]]:
    """The vendor's callback and a re-check message (× the trigger's batch) reaching a final result with every
    image: kept with the vendor's copy deleted; kept while the row was erased (the objects go again); the same
    with the clean-up failing (a re-check is queued to delete them); kept but the row could not be finalized (a
    re-check is scheduled)."""
    from shared.callback import hash_callback_token
    from shared.handlers.result_fetcher import ResultFetcherApp
    from shared.storage import StorageError
    from tests.fakes import PNG, FakeCloudAuth, Stack, check_result_body

    callback = json.loads((ROOT / "tests" / "events" / "http-callback.json").read_text(encoding="utf-8"))
    recheck = json.loads((ROOT / "tests" / "events" / "mns-recheck.json").read_text(encoding="utf-8"))
    query = callback["queryParameters"]
    body = check_result_body()
    id_info = json.loads(body["Result"]["ExtIdInfo"])
    id_info["idBackImage"] = id_info["idImage"]  # front, back and face: every image a result carries by name
    body["Result"]["ExtIdInfo"] = json.dumps(id_info)
    face_info = json.loads(body["Result"]["ExtFaceInfo"])  # and those found by their content
    face_info["extraFaceImg"] = [base64.b64encode(PNG + bytes([n]) * 2048).decode()
                                 for n in range(BUDGETED_IMAGES_BY_CONTENT)]  # fmt: skip
    body["Result"]["ExtFaceInfo"] = json.dumps(face_info)

    def failing() -> None:
        raise StorageError("tablestore UpdateRow failed", transient=True, code="OTSServerBusy")

    paths = {}
    for entry, event, repeat in (("callback", callback, 1), ("re-check", recheck, batch)):
        for scenario in ("kept", "row erased meanwhile", "row erased, clean-up failed", "not finalized"):
            log: list[str] = []
            stack = Stack(root / f"{entry}-{scenario}")
            record = stack.pending(merchant_biz_id=query["merchantBizId"], transaction_id=query["transactionId"],
                                   callback_token_hash=hash_callback_token(query["callbackToken"]))  # fmt: skip
            erase = functools.partial(stack.store.delete, record.merchant_biz_id)  # an erasure while it fetched
            hooks = {"row erased meanwhile": {"finalize": erase}, "row erased, clean-up failed": {"finalize": erase},
                     "not finalized": {"finalize": failing}}.get(scenario)  # fmt: skip
            object_hooks = {"delete_prefix": failing} if scenario == "row erased, clean-up failed" else None
            fetcher = stack.fetcher(
                Recorder(FakeCloudAuth(body), "vendor", log),  # type: ignore[arg-type]
                delete_vendor_copy=True,
                store=Recorder(stack.store, "store", log, hooks),
                objects=Recorder(stack.objects, "objects", log, object_hooks),
                recheck=Recorder(stack.recheck, "queue", log),
                notify=Recorder(stack.notify, "queue", log),
            )
            answer = ResultFetcherApp(fetcher).handle(event, None)
            assert "statusCode" not in answer or answer["statusCode"] == 200, answer
            stack.close()
            paths[f"{entry}, {scenario}"] = log * repeat
    return paths


def max_subscribers() -> int:
    """The most subscribers ``WebhookSettings`` admits, at any KYC_WEBHOOK_TIMEOUT (the shortest allowed too)."""
    from shared.notifications import MAX_SUBSCRIBERS, WebhookSettings
    from tests.fakes import SECRET_A

    def admitted(count: int, timeout: str | None = None) -> bool:
        hooks = [{"url": f"https://s{i}.example/hook", "secret": SECRET_A} for i in range(count)]
        env = {"KYC_BACKEND": "aliyun", "KYC_WEBHOOKS": json.dumps(hooks)}
        try:
            WebhookSettings.from_env(env if timeout is None else {**env, "KYC_WEBHOOK_TIMEOUT": timeout})
        except ConfigError:
            return False
        return True

    assert admitted(MAX_SUBSCRIBERS) and not admitted(MAX_SUBSCRIBERS + 1, timeout="0.1")
    return MAX_SUBSCRIBERS


def notifier_paths(root: Path, batch: int) -> dict[str, list[str]]:
    """A notify message (× the trigger's batch) for as many subscribers as may be configured, one shown the
    identity in clear (the stored result is read), every delivery failing (one follow-up message each), every
    follow-up's first send failing (each is sent again)."""
    from shared import jsonutil
    from shared.delivery import DeliveryResult
    from shared.ids import RESULT_DOCUMENT, answer_prefix
    from shared.notifications import Subscriber
    from shared.storage import StorageError
    from shared.values import replace
    from tests.fakes import SECRET_A, RecordingSender, Stack, make_record

    log: list[str] = []
    stack = Stack(root / "notifier")
    record = make_record(status="PASSED", passed="Y", sub_code="200", finalized_at=1.0)
    key = f"{answer_prefix(record.merchant_biz_id, 'd' * 20)}{RESULT_DOCUMENT}"  # a verdict is checked against it
    record = replace(record, result_key=key)
    stack.store.create(record)
    document = {"merchantBizId": record.merchant_biz_id,
                "result": {"status": "PASSED", "passed": "Y", "subCode": "200", "identity": {}}}  # fmt: skip
    stack.objects.put(key, jsonutil.dumps(document), "application/json")
    sender = RecordingSender(answers={f"https://s{i}.example/hook": [DeliveryResult(ok=False, status=503)]
                                      for i in range(max_subscribers())})  # fmt: skip
    subscribers = [Subscriber(url=url, secret=SECRET_A, include_pii=(i == 0)) for i, url in enumerate(sender.answers)]

    def post(url: str, body: bytes, headers: dict[str, str]) -> DeliveryResult:
        log.append("webhooks.post")
        return sender(url, body, headers)

    first_sends = threading.Semaphore(len(subscribers))

    def first_send_fails() -> None:
        if first_sends.acquire(blocking=False):
            raise StorageError("mns SendMessage failed: InternalError (500)", transient=True, code="InternalError")

    notify = Recorder(stack.notify, "queue", log, {"send": first_send_fails})
    notifier = stack.notifier(sender, subscribers=subscribers, notify=notify,
                              deadletter=Recorder(stack.deadletter, "queue", log))  # fmt: skip
    notifier.store = Recorder(stack.store, "store", log)  # type: ignore[assignment]
    notifier.objects = Recorder(stack.objects, "objects", log)  # type: ignore[assignment]
    notifier.sender = post
    notifier.handle_body({"merchantBizId": record.merchant_biz_id, "attempt": 0})
    stack.close()
    return {"every delivery failing": log * batch}


@pytest.fixture(scope="module")
def longest_paths(s_yaml: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("paths")
    return {
        "initializer": initializer_paths(root),
        "result_fetcher": result_fetcher_paths(root, batch_size(s_yaml, "result_fetcher")),
        "notifier": notifier_paths(root, batch_size(s_yaml, "notifier")),
    }


def worst_case_seconds(paths: dict[str, list[str]]) -> float:
    return max(path_seconds(path) for path in paths.values())


def test_the_budgeted_paths_run_the_code_s_longest_branches(longest_paths: dict[str, dict[str, list[str]]]) -> None:
    initializer = longest_paths["initializer"]
    assert initializer["billed"] == ["store.increment_rate_counter", "vendor.initialize", "store.create"]
    # today's id, yesterday's, near midnight tomorrow's; the key's claim; then as without a key
    assert initializer["billed, keyed"] == ["store.get"] * 3 + ["store.take_claim", *initializer["billed"]]
    assert initializer["not billed"][-1] == "store.decrement_rate_counter"
    fetch = longest_paths["result_fetcher"]
    kept = fetch["callback, kept"]
    assert calls_named(kept, "objects.put") == max_result_objects()
    assert kept.count(f"objects.put{ON_POOL}") == max_result_objects() - 1  # the images side by side, then result.json
    assert kept[-2:] == ["vendor.delete_verify_result", "store.mark_vendor_copy_deleted"]
    assert fetch["callback, row erased meanwhile"][-1] == "objects.delete_prefix"
    assert fetch["callback, row erased, clean-up failed"][-2:] == ["objects.delete_prefix", "queue.send"]
    assert fetch["callback, not finalized"][-2:] == ["queue.send", "store.record_check"]  # the chain: message, then row
    (notify,) = longest_paths["notifier"].values()
    assert notify.count("webhooks.post") == max_subscribers()
    assert notify.count(f"queue.send{ON_POOL}") == 2 * max_subscribers()  # each follow-up's first send failed
    assert "objects.get" in notify


def _finalize(store: Any, mbid: str) -> bool:
    return store.finalize(mbid, status="PASSED", passed="Y", sub_code="200", result_key="results/x/a/result.json",
                          identity_masked=None, result_version=5_000, now=5.0)


def finalize_calls_over_an_abandoned_row_a_rival_finalizes_meanwhile() -> int:
    from shared.status import Status
    from shared.storage import TablestoreTransactionStore
    from tests.storage.conftest import make_record
    from tests.storage.fake_ots import FakeOTSClient

    """finalize over an ABANDONED row while a rival's verdict lands between its read and its second write: the
    PENDING update fails, the read, the ABANDONED update fails, the read-back of its mark."""
    fake = FakeOTSClient()
    store = TablestoreTransactionStore(table="kyc_tx", client=fake)
    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, 3.0)
    real_get_row = fake.get_row
    reads = 0

    def get_row(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        answer = real_get_row(*args, **kwargs)
        reads += 1
        if reads == 1:  # the rival's verdict lands right after finalize read the ABANDONED row
            fake.rows[record.merchant_biz_id]["status"] = Status.FAILED.value
        return answer

    fake.get_row = get_row  # type: ignore[method-assign]
    before = len(fake.calls)
    assert _finalize(store, record.merchant_biz_id) is False
    return len(fake.calls) - before


def test_finalize_makes_no_more_tablestore_calls_than_the_timeout_budget_counts() -> None:
    """Found by review ab: the budget counted 3, and finalize can make 4."""
    observed = finalize_calls_over_an_abandoned_row_a_rival_finalizes_meanwhile()
    assert observed <= tablestore_calls("finalize"), f"finalize made {observed} Tablestore calls"


def rate_claim_round_seconds() -> float:
    """One round of the rate-limit claim (a read and a conditional write) at the store's deadlines."""
    return 2 * tablestore_call_seconds()


def initializer_service() -> Any:
    """The initializer's service with the deployment's stores (their deadlines) and the vendor's default deadline."""
    from shared.storage.tablestore_store import TablestoreTransactionStore
    from shared.verifications import Verifications
    from tests.fakes import FakeCloudAuth
    from tests.test_initializer_app import _settings

    return Verifications(settings=_settings(), client=FakeCloudAuth(),  # type: ignore[arg-type]
                         store=TablestoreTransactionStore(client=object(), table="t"))  # fmt: skip


def initializer_billed_part_seconds() -> float:
    """The start call and the row's create at their deadlines, and the margin."""
    return float(initializer_service().billed_part_seconds)


def initializer_guaranteed_seconds() -> float:
    """What the initializer's budget check requires before the start call: the billed part and one more store call
    (the row's read-back, or a keyed start's give-back of its key)."""
    guaranteed = float(initializer_service()._guaranteed_seconds())
    assert guaranteed == initializer_billed_part_seconds() + tablestore_call_seconds()
    return guaranteed


def test_the_initializer_s_budget_check_reserves_the_billed_part_of_its_longest_path(
    longest_paths: dict[str, dict[str, list[str]]],
) -> None:
    billed = longest_paths["initializer"]["billed"]
    guaranteed = billed[billed.index("vendor.initialize"):]  # what comes after the check
    assert guaranteed == ["vendor.initialize", "store.create"]
    assert initializer_billed_part_seconds() >= path_seconds(guaranteed)


def test_the_initializer_s_timeout_covers_its_billed_part_after_one_rate_claim(
    s_yaml: dict[str, Any], longest_paths: dict[str, dict[str, list[str]]]
) -> None:
    """Whatever the calls before the check took, the check guarantees the billed part; the timeout must cover that
    part with margin, and leave it room after a claim whose one round took its deadlines (else a slow but working
    store would refuse every start)."""
    props = fc3_functions(s_yaml)["initializer"]
    assert not BUDGET_SETTINGS & set(props["environmentVariables"]), "the budget is computed with the code's defaults"
    billed = longest_paths["initializer"]["billed"]
    guaranteed = path_seconds(billed[billed.index("vendor.initialize"):])
    assert guaranteed * TIMEOUT_MARGIN <= props["timeout"], f"billed part {guaranteed:.1f} s"
    before = rate_claim_round_seconds() + initializer_guaranteed_seconds()
    assert before <= props["timeout"] <= FC_MAX_TIMEOUT_SECONDS, f"one claim and the billed part {before:.1f} s"


def test_the_initializer_s_timeout_covers_a_keyed_start_s_reads_claims_and_billed_part(
    s_yaml: dict[str, Any], longest_paths: dict[str, dict[str, list[str]]]
) -> None:
    """The same rule for a start with an Idempotency-Key (found by review u): before its budget check it reads the
    earlier ids' rows and claims the key, and it claims the key only with time for the rate claim, the billed part
    and the key's give-back."""
    keyed = longest_paths["initializer"]["billed, keyed"]
    reads = keyed[: keyed.index("store.take_claim")]
    assert reads == ["store.get"] * 3
    before = path_seconds(reads) + 2 * rate_claim_round_seconds() + initializer_guaranteed_seconds()
    assert before <= fc3_functions(s_yaml)["initializer"]["timeout"], f"{before:.1f} s"


@pytest.mark.parametrize(("document", "pattern"), [
    ("docs/deploy.md", r"([\d +]+) s; else it answers 503"),
    ("s.yaml", r"\(([\d +]+) s: FC ending it between"),
])  # fmt: skip
def test_the_documents_state_what_the_initializer_s_budget_check_guarantees(document: str, pattern: str) -> None:
    """The figures an operator reads (found by review ee: they still said 25 + 11 + 3 s after the read-back joined)."""
    text = " ".join(line.strip().lstrip("#").strip() for line in (ROOT / document).read_text(encoding="utf-8")
                    .splitlines())  # fmt: skip
    match = re.search(pattern, text)
    assert match is not None, f"{document} no longer states the figures"
    assert sum(float(n) for n in match.group(1).split("+")) == initializer_guaranteed_seconds(), match.group(0)


@pytest.mark.parametrize("function", ["result_fetcher", "notifier"])
def test_a_function_s_timeout_covers_its_longest_path_with_margin(
    s_yaml: dict[str, Any], longest_paths: dict[str, dict[str, list[str]]], function: str
) -> None:
    props = fc3_functions(s_yaml)[function]
    assert not BUDGET_SETTINGS & set(props["environmentVariables"]), "the budget is computed with the code's defaults"
    worst = worst_case_seconds(longest_paths[function])
    assert worst * TIMEOUT_MARGIN <= props["timeout"] <= FC_MAX_TIMEOUT_SECONDS, f"{function}: worst case {worst:.1f} s"


def test_a_queue_function_runs_one_invocation_per_instance(s_yaml: dict[str, Any]) -> None:
    """The longest paths above are one invocation's: instances running several at once would share its calls' pools
    (``shared.parallel.MAX_CONCURRENT_CALLERS``, sized for the local worker) and its CPU. FC's default is 1; s.yaml
    pins it (found by review az: the code said "s.yaml" of a value s.yaml did not set)."""
    for function in ("result_fetcher", "notifier"):
        assert fc3_functions(s_yaml)[function]["instanceConcurrency"] == 1, function


def test_a_queue_function_s_cold_start_and_timeout_fit_the_time_its_trigger_waits(s_yaml: dict[str, Any]) -> None:
    """Past ``QUEUE_TRIGGER_WAIT_SECONDS`` EventBridge counts the push as failed and retries it while the first
    invocation still runs: work done twice (effects stay once). Whether the wait covers the cold start is not
    stated: it is counted. With the test above, the longest path of a queue function fits the wait too."""
    queue_functions = {name for name, props in fc3_functions(s_yaml).items()
                       if any(t["triggerType"] == "eventbridge" for t in props.get("triggers", []))}  # fmt: skip
    assert queue_functions == {"result_fetcher", "notifier"}
    for function in sorted(queue_functions):
        props = fc3_functions(s_yaml)[function]
        cold_start = props["instanceLifecycleConfig"]["initializer"]["timeout"]
        assert cold_start + props["timeout"] <= QUEUE_TRIGGER_WAIT_SECONDS, function


def queue_consumers(s_yaml: dict[str, Any], template: dict[str, Any]) -> dict[str, str]:
    """Queue resource in template.yml -> the function its EventBridge trigger invokes."""
    consumers = {}
    for function, props in fc3_functions(s_yaml).items():
        for trigger in props.get("triggers", []):
            if trigger["triggerType"] == "eventbridge":
                source = trigger["triggerConfig"]["eventSourceConfig"]["eventSourceParameters"]["sourceMNSParameters"]
                (output,) = OUTPUT_REF.findall(source["QueueName"])
                resource, _ = template["Outputs"][output]["Value"]["Fn::GetAtt"]
                consumers[resource] = function
    return consumers


def test_a_queue_hides_a_message_for_twice_its_consumer_s_cold_start_and_timeout(
    s_yaml: dict[str, Any], template: dict[str, Any]
) -> None:
    """Whether EventBridge's MNS source leans on the queue's visibility while it invokes a function synchronously
    is UNVERIFIED: FC's "Simple Message Queue (formerly MNS) queue triggers" and EventBridge's "Simple Message
    Queue (formerly MNS)" event-stream source say nothing of it. If it does, a message must stay hidden through a
    cold start (the initializer hook) and the whole invocation; twice that, as nothing documents when the source
    takes the message or how long it waits past the function."""
    from tools.doubles.mns.queues import ATTRIBUTE_RANGES  # CreateQueue's ranges

    consumers = queue_consumers(s_yaml, template)
    assert set(consumers) == {"RecheckQueue", "NotifyQueue"}  # the dead-letter queue: the operator tools only
    for queue, function in consumers.items():
        props = fc3_functions(s_yaml)[function]
        cold_start = props["instanceLifecycleConfig"]["initializer"]["timeout"]
        visibility = template["Resources"][queue]["Properties"]["VisibilityTimeout"]
        assert 2 * (props["timeout"] + cold_start) <= visibility <= ATTRIBUTE_RANGES["VisibilityTimeout"][1], queue


def test_the_notifier_reads_result_documents_but_never_the_identity_images_beside_them(
    template: dict[str, Any],
) -> None:
    """Found by review: its GetObject covered every object under the prefix, the face and document images too.
    RAM's ``*`` matches any characters, ``/`` included (a glob over the whole key)."""
    from shared.ids import answer_prefix

    (resource,) = statement_granting(template, "oss:GetObject", "NotifierRole")["Resource"]
    pattern = resource["Fn::Sub"].split("${ResultsBucket.Name}/", 1)[1].replace("${ResultsPrefix}", "results/")
    answer = answer_prefix("0123456789abcdef0123456789abcdef", "d" * 20)
    assert fnmatch.fnmatchcase(f"{answer}result.json", pattern)
    for image in ("idImage.jpg", "faceImg.jpg", "idBackImage.png"):
        assert not fnmatch.fnmatchcase(f"{answer}{image}", pattern)


def test_the_internet_facing_result_fetcher_reads_no_index_and_no_batch_of_rows(template: dict[str, Any]) -> None:
    """Found by review: it shared the sweeper's role, whose range and batch reads could read the table out from code
    run behind the anonymous callback."""
    role = ROLE_OF["result_fetcher"]  # s.yaml's (test_function_runs_with_its_own_stack_role_and_logs_to_its_logstore)
    granted = {action for _, s in statements(template, role) for action in as_list(s["Action"])}
    assert "ots:UpdateRow" in granted  # its verdicts
    assert not granted & {"ots:GetRange", "ots:BatchGetRow", "ots:DeleteRow", "ots:PutRow"}
