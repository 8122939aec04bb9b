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


@pytest.fixture(scope="module")
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
