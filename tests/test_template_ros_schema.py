"""template.yml against ROS's own resource schemas and validators (the official ROS CDK's generated code:
tools/ros_schema.py): property names, required properties, ranges, lengths and allowed values.

A property ROS does not know fails a deployment, or is dropped and does nothing (found by review: a lifecycle rule
``NoncurrentVersionExpiration`` that ROS's ``ALIYUN::OSS::Bucket`` does not have).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tools import ros_schema
from tools.deployment import TEMPLATE


@pytest.fixture(scope="module")
def schema() -> ros_schema.Schema:
    wheels = ros_schema.pinned_wheels()
    missing = [wheel.name for wheel in wheels if not wheel.is_file()]
    assert not missing, f"run ./scripts/test: it downloads the ROS CDK wheels (tests/oracles/ros-cdk.txt): {missing}"
    return ros_schema.load(wheels)


@pytest.fixture
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return loaded


def test_every_resource_property_and_attribute_the_template_uses_is_in_ros_s_schema(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    assert ros_schema.problems(template, schema) == []


def test_the_schema_reader_finds_an_unknown_nested_property_in_either_branch_of_an_if(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    bad = copy.deepcopy(template)
    rule = {"ID": "old-versions", "Prefix": "results/", "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}
    lifecycle = bad["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"]
    lifecycle["Rule"] = {"Fn::If": ["Versioned", [*lifecycle["Rule"], rule], lifecycle["Rule"]]}

    (problem,) = ros_schema.problems(bad, schema)

    assert problem.startswith("ResultsBucket.LifecycleConfiguration.Rule[2].NoncurrentVersionExpiration:")


def test_the_schema_reader_finds_an_attribute_the_resource_does_not_have(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    bad = copy.deepcopy(template)
    bad["Outputs"]["Extra"] = {"Value": {"Fn::Sub": "${ResultsBucket.Endpoint}"}}

    assert ros_schema.problems(bad, schema) == [
        "ResultsBucket: attribute Endpoint is not one ROS gives (it has: Arn, DomainName, InternalDomainName, Name)"
    ]


def test_the_schema_reader_finds_a_value_outside_ros_s_range_and_a_missing_required_property(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    bad = copy.deepcopy(template)
    queue = bad["Resources"]["RecheckQueue"]["Properties"]
    queue["VisibilityTimeout"] = 43_201  # MNS hides a message 12 h at most
    del queue["QueueName"]

    assert ros_schema.problems(bad, schema) == [
        "RecheckQueue.QueueName: required by ROS, missing",
        "RecheckQueue.VisibilityTimeout: 43201 is above 43200",
    ]


def test_the_schema_reader_checks_both_branches_of_an_if_against_the_allowed_values(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    bad = copy.deepcopy(template)
    rule = bad["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rule"][0]
    rule["Status"] = {"Fn::If": ["HasRetention", "Enabled", "Off"]}

    assert ros_schema.problems(bad, schema) == [
        "ResultsBucket.LifecycleConfiguration.Rule[0].Status: 'Off' is not one of ['Enabled', 'Disabled']"
    ]


def test_a_lifecycle_rule_written_as_a_map_instead_of_a_list_is_found(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    """``LifecycleConfiguration.Rule`` is a list (``ros.listMapper(rosBucketRulePropertyToRosTemplate)``, validated by
    ``ros.listValidator(RosBucket_RulePropertyValidator)``). A rule written without its ``- `` is a map, which ROS
    refuses; the reader checks the map's keys as if it were one rule and finds nothing: it never compares the shape
    (list or map) ROS expects. The same hole lets a map given where one object is expected pass as a list of them."""
    lifecycle = template["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"]
    lifecycle["Rule"] = lifecycle["Rule"][1]  # the abort-incomplete-uploads rule, its "- " forgotten

    found = ros_schema.problems(template, schema)

    assert len(found) == 1 and found[0].startswith("ResultsBucket.LifecycleConfiguration.Rule:"), found


def test_a_literal_that_breaks_ros_s_allowed_pattern_is_found(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    """ROS's validators also check patterns (``ros.validateAllowedPattern``, 31 of them in the pinned wheels): an
    OTS table's primary key name must match ``^[_a-zA-Z][_a-zA-Z0-9]{0,254}$``, a log store's name
    ``^[a-zA-Z0-9_-]+$``... The reader reads required, range, length and allowed values but not patterns, so a
    hyphen in a primary key column (a deploy that fails, or a table the code cannot write: its column is
    ``merchant_biz_id``) passes without a word."""
    key = template["Resources"]["TransactionsTable"]["Properties"]["PrimaryKey"][0]
    key["Name"] = "merchant-biz-id"

    found = ros_schema.problems(template, schema)

    assert len(found) == 1 and found[0].startswith("TransactionsTable.PrimaryKey[0].Name:"), found


def test_a_parameter_default_that_the_property_it_feeds_refuses_is_found(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    """s.yaml passes no LogRetentionDays (nor TableName, ResultsPrefix): a deploy takes the parameter's Default, which
    reaches ``FunctionLogstore.TTL`` through ``{Ref: LogRetentionDays}``. The reader skips every ``Ref`` ("ROS's to
    check"), but ROS checks the parameter against the parameter's own bounds only; the log store then refuses a TTL
    above 3650 days (``RosLogstorePropsValidator``) and the stack fails on its first deploy. A Default (and the
    MinValue/MaxValue or AllowedValues a parameter allows) is a literal the template chose: checked like one."""
    days = template["Parameters"]["LogRetentionDays"]
    days["Default"], days["MaxValue"] = 7300, 7300  # "keep the logs 20 years"

    found = ros_schema.problems(template, schema)

    assert len(found) == 1 and found[0].startswith("FunctionLogstore.TTL:"), found


def test_a_required_property_one_branch_of_an_if_removes_is_found(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    """``{Ref: ALIYUN::NoValue}`` in a branch of an ``Fn::If`` removes the property when that branch is taken. The
    reader checks "both branches of an Fn::If" for their values but counts a required property as present whenever
    its key is written, so ``SSEAlgorithm`` (required by
    ``RosBucket_ServerSideEncryptionConfigurationPropertyValidator``) given only with a customer key passes, and every
    deploy without KmsKeyId fails."""
    encryption = template["Resources"]["ResultsBucket"]["Properties"]["ServerSideEncryptionConfiguration"]
    encryption["SSEAlgorithm"] = {"Fn::If": ["UseCustomerKey", "KMS", {"Ref": "ALIYUN::NoValue"}]}

    found = ros_schema.problems(template, schema)

    where = "ResultsBucket.ServerSideEncryptionConfiguration.SSEAlgorithm:"
    assert len(found) == 1 and found[0].startswith(where), found


def test_a_map_whose_one_key_begins_with_ref_is_checked_as_properties_not_taken_for_a_ref(
    schema: ros_schema.Schema, template: dict[str, Any]
) -> None:
    """``_intrinsic`` takes any one-key map whose key *starts with* "Ref" for the ``Ref`` function, and the reader
    then checks nothing inside it. ``RefererConfiguration: {RefererLists: [...]}`` (ROS's key is ``RefererList``)
    is such a map: the misspelt key passes, ROS drops or refuses it, and the bucket has no referer list. Only the
    key ``Ref`` itself (and ``Fn::...``) is a function."""
    bucket = template["Resources"]["ResultsBucket"]["Properties"]
    bucket["RefererConfiguration"] = {"RefererLists": ["https://kyc.example.com"]}

    found = ros_schema.problems(template, schema)

    assert len(found) == 1 and found[0].startswith("ResultsBucket.RefererConfiguration.RefererLists:"), found
