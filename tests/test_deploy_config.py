"""Static checks of the deployment: s.yaml (Serverless Devs 3) and template.yml (ROS).

Nothing here talks to Alibaba Cloud: the files are parsed with PyYAML and checked against what the code needs
(handlers, environment variables) and against the security rules (least privilege, encryption, retention).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import products
from shared.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
INFRA = "kyc-infra"

# Every function the design deploys.
DEPLOYED = ("initializer", "result_fetcher", "notifier", "sweeper")
NOT_WRITTEN_YET: set[str] = set()

COMMON_ENV = {
    "KYC_BACKEND", "KYC_TABLESTORE_ENDPOINT", "KYC_TABLESTORE_INSTANCE", "KYC_TABLESTORE_TABLE", "KYC_OSS_REGION",
    "KYC_OSS_BUCKET", "KYC_OSS_PREFIX", "KYC_MNS_ENDPOINT", "KYC_RECHECK_QUEUE", "KYC_NOTIFY_QUEUE",
    "KYC_DEADLETTER_QUEUE", "KYC_LOG_LEVEL", "CLOUDAUTH_REGION", "CLOUDAUTH_USE_VPC_ENDPOINT",
}
FUNCTION_ENV = {
    "initializer": {"KYC_PUBLIC_URL", "KYC_JWT_SECRET", "KYC_USER_ID_PEPPER", "KYC_RETURN_URL_ALLOWLIST",
                    "KYC_CORS_ORIGINS", "KYC_RATE_LIMIT_PER_HOUR"},
    "result_fetcher": {"KYC_RECHECK_SCHEDULE", "KYC_DELETE_VENDOR_COPY"},
    "notifier": {"KYC_WEBHOOKS", "KYC_WEBHOOK_RETRY_SCHEDULE"},
    "sweeper": {"KYC_SWEEP_AFTER", "KYC_ABANDON_AFTER", "KYC_RETENTION_DAYS", "KYC_RECHECK_SCHEDULE"},
}
SECRETS = {"KYC_JWT_SECRET", "KYC_USER_ID_PEPPER", "KYC_WEBHOOKS"}
INJECTED_BY_FC = {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"}
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


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, role in resources_of_type(template, "ALIYUN::RAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                for resolved in branches(statement):
                    yield name, resolved


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_role(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["FunctionRole"]["Properties"]


def statement_by_sid(template: dict[str, Any], sid: str) -> dict[str, Any]:
    matches = [s for _, s in statements(template) if s.get("Sid") == sid]
    assert len(matches) == 1, f"expected one statement {sid}"
    return matches[0]


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
def test_function_runs_with_the_stack_role_and_logs_to_its_logstore(s_yaml: dict[str, Any], function: str) -> None:
    props = fc3_functions(s_yaml)[function]
    assert props["role"] == f"${{resources.{INFRA}.output.FunctionRoleArn}}"
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
    assert run["retryStrategy"]["PushRetryStrategy"] in {"BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"}
    assert run["deadLetterQueue"]["Arn"] == f"${{resources.{INFRA}.output.DeadletterQueueArn}}"
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
    assert template["Outputs"]["RetentionDays"]["Value"] == {"Ref": "RetentionDays"}


def test_retention_zero_means_keep_forever_in_the_stack_as_in_the_sweeper(template: dict[str, Any]) -> None:
    from shared.sweeper import SweepSettings

    assert template["Parameters"]["RetentionDays"]["MinValue"] == 0, "one meaning: no negative 'keep' value"
    assert template["Conditions"]["HasRetention"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "RetentionDays"}, 0]}]}
    assert SweepSettings.from_env({"KYC_RETENTION_DAYS": "0"}).retention_days == 0  # the sweeper's "keep"
    with pytest.raises(ConfigError):
        SweepSettings.from_env({"KYC_RETENTION_DAYS": "-1"})


# ------------------------------------------------------------------------------------------------ RAM


def test_no_ram_statement_grants_wildcard_actions(template: dict[str, Any]) -> None:
    for role, statement in statements(template):
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{role}: wildcard action {action}"


def test_wildcard_resources_only_for_services_without_resource_level_permissions(template: dict[str, Any]) -> None:
    raw = (ROOT / "template.yml").read_text(encoding="utf-8").splitlines()
    wildcard = [s for _, s in statements(template) if "*" in as_list(s["Resource"])]
    assert wildcard, "expected the antcloudauth statement"
    for statement in wildcard:
        services = {action.split(":", 1)[0] for action in as_list(statement["Action"])}
        assert services <= NO_RESOURCE_LEVEL, f"'*' resource for {sorted(services)}"
        # ... and it says why, in a comment right above the statement (or a Condition narrowing it).
        if "Condition" in statement:
            continue
        (line,) = [i for i, text in enumerate(raw) if text.strip() == f"- Sid: {statement['Sid']}"]
        comments = []
        for text in reversed(raw[:line]):
            if not text.strip().startswith("#"):
                break
            comments.append(text)
        assert any("resource-level" in c for c in comments), f"{statement['Sid']} has no explanatory comment"


def test_no_resource_wildcard_outside_the_stacks_own_resources(template: dict[str, Any]) -> None:
    for _, statement in statements(template):
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                continue
            text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
            # The account and the resource name are always pinned; only object keys under the prefix are open.
            assert "${ALIYUN::AccountId}" in text, text
            assert not text.endswith(":*") and ":*:*:" not in text, text


def test_function_role_grants_exactly_what_the_functions_call(template: dict[str, Any]) -> None:
    granted = {action for _, s in statements(template) for action in as_list(s["Action"])}
    assert granted == {
        *CLOUDAUTH_ACTIONS,
        "oss:PutObject", "oss:GetObject", "oss:DeleteObject", "oss:ListObjects",
        "ots:GetRow", "ots:PutRow", "ots:UpdateRow", "ots:DeleteRow", "ots:GetRange", "ots:BatchGetRow",
        "mns:SendMessage", "mns:ReceiveMessage", "mns:DeleteMessage", "mns:ChangeMessageVisibility",
        "kms:GenerateDataKey", "kms:Decrypt",
        "log:PostLogStoreLogs",
    }


def test_object_access_is_limited_to_the_results_prefix(template: dict[str, Any]) -> None:
    objects = statement_by_sid(template, "ResultObjects")
    assert [r["Fn::Sub"] for r in objects["Resource"]] == [
        "acs:oss:*:${ALIYUN::AccountId}:${ResultsBucket.Name}/${ResultsPrefix}*"
    ]
    listing = statement_by_sid(template, "ListResults")
    assert listing["Condition"]["StringLike"]["oss:Prefix"] == [{"Fn::Sub": "${ResultsPrefix}*"}]


def test_table_access_is_limited_to_the_transactions_tables_and_their_indexes(template: dict[str, Any]) -> None:
    from shared.storage.tablestore_schema import Schema

    schema = Schema("${TableName}")
    names = [schema.table, schema.rate_table, schema.due_index, schema.by_user_index, schema.by_time_index]
    rows = statement_by_sid(template, "TransactionRows")
    assert [r["Fn::Sub"] for r in rows["Resource"]] == [
        f"acs:ots:${{ALIYUN::Region}}:${{ALIYUN::AccountId}}:instance/${{OtsInstanceName}}/table/{name}"
        for name in names
    ]


def test_queue_access_is_limited_to_the_three_queues(template: dict[str, Any]) -> None:
    queues = statement_by_sid(template, "Queues")
    names = {re.search(r"/queues/\$\{NamePrefix\}-([a-z]+)", r["Fn::Sub"]).group(1)  # type: ignore[union-attr]
             for r in queues["Resource"]}
    assert names == {"recheck", "notify", "deadletter"}


def test_kms_permission_exists_only_with_a_customer_key(template: dict[str, Any]) -> None:
    policy = function_role(template)["Policies"][0]["PolicyDocument"]["Statement"]
    (conditional,) = [s for s in policy if "Fn::If" in s]
    condition, when_cmk, otherwise = conditional["Fn::If"]
    assert condition == "UseCustomerKey"
    assert otherwise == {"Ref": "ALIYUN::NoValue"}
    assert when_cmk["Resource"] == [{"Fn::Sub": "acs:kms:${ALIYUN::Region}:${ALIYUN::AccountId}:key/${KmsKeyId}"}]


def test_function_role_is_assumable_only_by_function_compute(template: dict[str, Any]) -> None:
    (trust,) = function_role(template)["AssumeRolePolicyDocument"]["Statement"]
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
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rule"]
    (expiry,) = [r for r in rules if "Expiration" in r]
    assert expiry["Prefix"] == {"Ref": "ResultsPrefix"}
    assert expiry["Expiration"]["Days"]["Fn::If"][:2] == ["HasRetention", {"Ref": "RetentionDays"}]
    assert expiry["Status"] == {"Fn::If": ["HasRetention", "Enabled", "Disabled"]}
    assert template["Parameters"]["ResultsPrefix"]["Default"] == "results/"


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
    queues = resources_of_type(template, "ALIYUN::MNS::Queue").values()
    names = {q["Properties"]["QueueName"]["Fn::Sub"] for q in queues}
    assert names == {"${NamePrefix}-recheck", "${NamePrefix}-notify", "${NamePrefix}-deadletter"}
    for queue in queues:
        assert queue["Properties"]["MessageRetentionPeriod"] == 7 * 24 * 3600
        assert queue["Properties"]["MaximumMessageSize"] <= 64 * 1024


def test_function_logs_have_a_project_and_logstore(template: dict[str, Any]) -> None:
    assert len(resources_of_type(template, "ALIYUN::SLS::Project")) == 1
    (store,) = resources_of_type(template, "ALIYUN::SLS::Logstore").values()
    assert store["Properties"]["EncryptConf"]["Enable"] is True
    log = statement_by_sid(template, "FunctionLogs")
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


def test_cloudauth_statement_cites_its_source_and_says_what_is_unverified() -> None:
    raw = (ROOT / "template.yml").read_text(encoding="utf-8")
    comment = raw[: raw.index("- Sid: CloudAuthNoResourceLevelPermissions")].rsplit("Statement:", 1)[1]
    for needed in ("Forbidden.RAMUserAccessDenied", "AliyunAntCloudAuthFullAccess", "antcloudauth:*",
                   "UNVERIFIED: per-API action names follow RAM's <service>:<Action> convention"):
        assert needed in " ".join(line.strip().lstrip("# ") for line in comment.splitlines()), needed


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
    from tools.devstack.worker import Subscription

    notifier_timeout = fc3_functions(s_yaml)["notifier"]["timeout"]
    visibility = template["Resources"]["NotifyQueue"]["Properties"]["VisibilityTimeout"]
    assert notifier_timeout >= DELIVERY_BUDGET_SECONDS + 10
    assert visibility >= DELIVERY_BUDGET_SECONDS + 10
    assert Subscription("notify", "notifier").visibility_timeout > DELIVERY_BUDGET_SECONDS
