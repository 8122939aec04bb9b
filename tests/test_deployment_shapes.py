"""A hand-edited s.yaml or template.yml of the wrong shape is a ``DeploymentError`` naming the place, from every
reader in ``tools.deployment`` (the CLI and the local stack print it), never an ``AttributeError`` or a
``RecursionError`` from deep inside."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools.deployment import (
    DeploymentError,
    default_region,
    deployed_functions,
    function_async_retries,
    function_environment,
    function_environments,
    function_folders,
    function_timeouts,
    resolve,
    stack_parameters,
)

FUNCTION = """\
  f:
    component: fc3
    props:
      functionName: ${vars.prefix}-f
      code: ./build/f
      timeout: 30
      environmentVariables:
        KYC_OSS_BUCKET: ${resources.kyc-infra.output.BucketName}
"""
STACK = """\
  kyc-infra:
    component: ros
    props:
      parameters:
        RetentionDays: ${env('KYC_RETENTION_DAYS', '90')}
"""
VARS = "vars:\n  prefix: kyc\n  region: cn-hongkong\n"
TEMPLATE = "Parameters:\n  RetentionDays: {Type: Number, Default: 90}\nResources: {}\n"

READERS: dict[str, Callable[[Path, Path], object]] = {
    "function_folders": lambda s_yaml, _: function_folders(s_yaml),
    "function_timeouts": lambda s_yaml, _: function_timeouts(s_yaml),
    "function_async_retries": lambda s_yaml, _: function_async_retries(s_yaml),
    "deployed_functions": lambda s_yaml, _: deployed_functions({}, s_yaml),
    "default_region": lambda s_yaml, _: default_region({}, s_yaml),
    "function_environments": lambda s_yaml, _: function_environments({}, {"BucketName": "b"}, s_yaml),
    "function_environment": lambda s_yaml, _: function_environment({"BucketName": "b"}, {}, s_yaml),
    "stack_parameters": lambda s_yaml, template: stack_parameters({}, s_yaml, template),
}

MALFORMED_S_YAML = {
    "vars is a list": "vars: [kyc]\nresources:\n" + FUNCTION + STACK,
    "a var is a map": "vars:\n  prefix: {a: 1}\n  region: {b: 2}\nresources:\n" + FUNCTION + STACK,
    "a var refers to itself": "vars:\n  prefix: ${vars.prefix}\n  region: ${vars.region}\nresources:\n"
                              + FUNCTION + STACK,
    "vars refer to each other": "vars:\n  prefix: ${vars.region}\n  region: ${vars.prefix}\nresources:\n"
                                + FUNCTION + STACK,
    "a function's props is a list": VARS + "resources:\n  f:\n    component: fc3\n    props: [a, b]\n" + STACK,
    "a function's environment is a list": VARS + "resources:\n" + FUNCTION.replace(
        "      environmentVariables:\n        KYC_OSS_BUCKET: ${resources.kyc-infra.output.BucketName}\n",
        "      environmentVariables: [KYC_OSS_BUCKET]\n") + STACK,
    "the stack's props is a string": VARS + "resources:\n" + FUNCTION + "  kyc-infra:\n    component: ros\n"
                                     "    props: oops\n",
    "the stack's parameters is a list": VARS + "resources:\n" + FUNCTION + "  kyc-infra:\n    component: ros\n"
                                        "    props:\n      parameters: [RetentionDays]\n",
    "resources is a list": VARS + "resources: [f]\n",
    "the file is not YAML": "resources: [\n",
}


def _write(tmp_path: Path, s_yaml: str, template: str = TEMPLATE) -> tuple[Path, Path]:
    (tmp_path / "s.yaml").write_text(s_yaml, encoding="utf-8")
    (tmp_path / "template.yml").write_text(template, encoding="utf-8")
    return tmp_path / "s.yaml", tmp_path / "template.yml"


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_reads_a_well_formed_s_yaml(tmp_path: Path, reader: str) -> None:
    """The baseline the malformed cases differ from: the same files, well formed, read without an error."""
    READERS[reader](*_write(tmp_path, VARS + "resources:\n" + FUNCTION + STACK))


@pytest.mark.parametrize("shape", MALFORMED_S_YAML)
@pytest.mark.parametrize("reader", READERS)
def test_a_malformed_s_yaml_is_a_deployment_error_or_is_not_read(tmp_path: Path, reader: str, shape: str) -> None:
    """Each reader either does not look at the malformed part (and succeeds) or raises DeploymentError: nothing
    else escapes."""
    try:
        READERS[reader](*_write(tmp_path, MALFORMED_S_YAML[shape]))
    except DeploymentError as exc:
        assert str(exc)


@pytest.mark.parametrize(("shape", "reader", "says"), [
    ("vars is a list", "default_region", "s.yaml vars is not a map"),
    ("a var is a map", "default_region", "s.yaml vars.region is not a string"),
    ("a var refers to itself", "default_region", "s.yaml vars.region refers to itself"),
    ("vars refer to each other", "deployed_functions", "refers to itself"),
    ("a function's props is a list", "function_folders", "s.yaml resource f props is not a map"),
    ("a function's environment is a list", "function_environments",
     "s.yaml function f environmentVariables is not a map"),
    ("the stack's props is a string", "stack_parameters", "s.yaml resource kyc-infra props is not a map"),
    ("the stack's parameters is a list", "stack_parameters", "s.yaml resource kyc-infra parameters is not a map"),
    ("resources is a list", "function_folders", "s.yaml has no resources"),
    ("the file is not YAML", "function_folders", "cannot read s.yaml"),
])
def test_a_malformed_s_yaml_names_what_is_wrong(tmp_path: Path, shape: str, reader: str, says: str) -> None:
    with pytest.raises(DeploymentError, match=re.escape(says)):
        READERS[reader](*_write(tmp_path, MALFORMED_S_YAML[shape]))


@pytest.mark.parametrize("parameters", ["[RetentionDays]", "oops"])
def test_a_template_whose_parameters_are_not_a_map_is_a_deployment_error(tmp_path: Path, parameters: str) -> None:
    s_yaml, template = _write(tmp_path, VARS + "resources:\n" + FUNCTION + STACK,
                              f"Parameters: {parameters}\nResources: {{}}\n")
    with pytest.raises(DeploymentError, match=re.escape("template.yml Parameters is not a map")):
        stack_parameters({}, s_yaml, template)


def test_absent_optional_maps_read_as_empty(tmp_path: Path) -> None:
    """``props:``, ``parameters:`` and ``environmentVariables:`` left empty (YAML null) are not errors."""
    s_yaml, template = _write(tmp_path, VARS + "resources:\n" + FUNCTION.replace(
        "      environmentVariables:\n        KYC_OSS_BUCKET: ${resources.kyc-infra.output.BucketName}\n",
        "      environmentVariables:\n") + "  kyc-infra:\n    component: ros\n    props:\n")
    assert function_environments({}, {}, s_yaml).functions == {"f": {}}
    assert stack_parameters({}, s_yaml, template) == {"RetentionDays": "90"}


def test_a_var_used_twice_side_by_side_is_not_a_cycle() -> None:
    data: dict[str, Any] = {"vars": {"a": "x", "b": "${vars.a}-${vars.a}"}}
    assert resolve("${vars.b}/${vars.b}", data, {}) == "x-x/x-x"
