"""ROS's resource schemas, read from the official ROS CDK (the oracle for ``template.yml``'s property names).

The ROS CDK is generated from ROS's resource type schemas: for each resource type, its ``*.generated.js`` has a
``ros<Name>PropsToRosTemplate`` function returning every property ROS accepts (``'BucketName': ...``), one
``ros<Name><Sub>PropertyToRosTemplate`` function per nested property type, and the attributes ``Fn::GetAtt`` may
read (``this.getAtt('Arn')``). The Python wheels on PyPI (``ros-cdk-oss`` ...) carry that JavaScript in their
jsii assembly; ``./scripts/test`` downloads the pinned wheels (``tests/oracles/ros-cdk.txt``, hashes checked)
into ``.venv/oracles/``, without their dependencies (nothing here runs them).

:func:`load` gives resource type → :class:`Resource`; :func:`problems` lists what a template uses that its types
do not have.
"""

from __future__ import annotations

import io
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = PROJECT_ROOT / "tests" / "oracles" / "ros-cdk.txt"
#: Where ./scripts/test downloads them: beside the venv's packages, not among them.
WHEELS = Path(sys.prefix) / "oracles" / "ros-cdk"

_RESOURCE_TYPE = re.compile(r"^(Ros\w+)\.ROS_RESOURCE_TYPE_NAME = \"(ALIYUN::[\w:]+)\";", re.MULTILINE)
_FUNCTION = re.compile(r"^function (ros\w+?ToRosTemplate)\(properties", re.MULTILINE)
_ENTRY = re.compile(r"^\s*'?([A-Za-z0-9_.]+)'?: (.+?),?$")
_NESTED = re.compile(r"\b(ros\w+PropertyToRosTemplate)\b")
_ATTRIBUTE = re.compile(r"this\.getAtt\('([\w.]+)'\)")
_CLASS = re.compile(r"^class (Ros\w+) extends ros\.RosResource", re.MULTILINE)


@dataclass
class Resource:
    """One resource type: its properties (name → nested property function, or None for a plain value) and the
    attributes ``Fn::GetAtt`` can read."""

    type: str
    properties: dict[str, str | None]
    attributes: set[str] = field(default_factory=set)


@dataclass
class Schema:
    resources: dict[str, Resource]
    #: nested property function → its properties (name → nested function or None)
    nested: dict[str, dict[str, str | None]]


def _return_entries(source: str, start: int) -> dict[str, str | None]:
    """The ``return { ... }`` object of the function starting at ``start``: key → nested function (or None)."""
    begin = source.index("return {", start)
    end = source.index("\n    };", begin)
    entries: dict[str, str | None] = {}
    for line in source[begin + len("return {"):end].splitlines():
        match = _ENTRY.match(line)
        if match:
            nested = _NESTED.search(match.group(2))
            entries[match.group(1)] = nested.group(1) if nested else None
    return entries


def parse(source: str) -> Schema:
    """The resource types of one ``*.generated.js``."""
    functions = {m.group(1): _return_entries(source, m.end()) for m in _FUNCTION.finditer(source)}
    classes = [(m.group(1), m.start()) for m in _CLASS.finditer(source)]
    bodies = {name: source[at:classes[i + 1][1] if i + 1 < len(classes) else len(source)]
              for i, (name, at) in enumerate(classes)}
    resources = {}
    for match in _RESOURCE_TYPE.finditer(source):
        class_name, type_name = match.group(1), match.group(2)
        props = functions.get(f"ros{class_name[3:]}PropsToRosTemplate")
        if props is None:
            continue
        attributes = set(_ATTRIBUTE.findall(bodies.get(class_name, "")))
        resources[type_name] = Resource(type_name, props, attributes)
    nested = {name: entries for name, entries in functions.items() if name.endswith("PropertyToRosTemplate")}
    return Schema(resources, nested)


def _generated_sources(wheel: Path) -> Iterator[str]:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".jsii.tgz"):
                with tarfile.open(fileobj=io.BytesIO(archive.read(name))) as tar:
                    for member in tar.getmembers():
                        # lib/<service>.generated.js: the resources (lib/datasource/ holds the data sources).
                        if re.fullmatch(r"package/lib/\w+\.generated\.js", member.name):
                            extracted = tar.extractfile(member)
                            assert extracted is not None
                            yield extracted.read().decode()


def pinned_wheels(requirements: Path = REQUIREMENTS, directory: Path = WHEELS) -> list[Path]:
    """The wheel files the pinned requirements (``name==version``) download to, in ``directory``."""
    pins = re.findall(r"^([a-z0-9-]+)==([0-9.]+)", requirements.read_text(), re.MULTILINE)
    return [directory / f"{name.replace('-', '_')}-{version}-py3-none-any.whl" for name, version in pins]


def load(wheels: Iterable[Path]) -> Schema:
    """The resource types of the ROS CDK wheels given."""
    schema = Schema({}, {})
    for wheel in wheels:
        for source in _generated_sources(wheel):
            part = parse(source)
            schema.resources.update(part.resources)
            schema.nested.update(part.nested)
    return schema


def _intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def _check(value: Any, allowed: Mapping[str, str | None], schema: Schema, where: str) -> Iterator[str]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _check(item, allowed, schema, f"{where}[{index}]")
        return
    if not isinstance(value, dict):
        return
    if _intrinsic(value):
        if "Fn::If" in value:  # either branch may be what ROS sees
            for branch in value["Fn::If"][1:]:
                yield from _check(branch, allowed, schema, where)
        return
    for key, item in value.items():
        if key not in allowed:
            yield f"{where}.{key}: not a property ROS knows here (it has: {', '.join(sorted(allowed))})"
            continue
        nested = allowed[key]
        if nested is not None and nested in schema.nested:
            yield from _check(item, schema.nested[nested], schema, f"{where}.{key}")


def _attribute_reads(value: Any) -> Iterator[tuple[str, str]]:
    """Every (resource, attribute) a template reads: ``Fn::GetAtt`` and ``${Resource.Attribute}`` in ``Fn::Sub``."""
    if isinstance(value, list):
        for item in value:
            yield from _attribute_reads(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Fn::GetAtt":
                resource, attribute = item.split(".", 1) if isinstance(item, str) else item
                yield resource, attribute
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) else item
                for match in re.finditer(r"\$\{([\w-]+)\.([\w.]+)\}", text):
                    yield match.group(1), match.group(2)
                yield from _attribute_reads(item)
            else:
                yield from _attribute_reads(item)


def problems(template: Mapping[str, Any], schema: Schema) -> list[str]:
    """What ``template`` uses that ROS's schemas do not have: unknown resource types, properties (nested ones
    included; both branches of an ``Fn::If``) and attributes read with ``Fn::GetAtt``/``Fn::Sub``."""
    found: list[str] = []
    resources = template.get("Resources", {})
    for name, resource in resources.items():
        known = schema.resources.get(resource["Type"])
        if known is None:
            found.append(f"{name}: resource type {resource['Type']} is not in the ROS CDK wheels given")
            continue
        found.extend(_check(resource.get("Properties", {}), known.properties, schema, name))
    for resource_name, attribute in _attribute_reads(template):
        if resource_name.startswith("ALIYUN::") or resource_name not in resources:
            continue  # a pseudo parameter (${ALIYUN::AccountId}) or a parameter
        known = schema.resources.get(resources[resource_name]["Type"])
        if known is not None and attribute not in known.attributes:
            found.append(f"{resource_name}: attribute {attribute} is not one ROS gives "
                         f"(it has: {', '.join(sorted(known.attributes))})")
    return found


if __name__ == "__main__":
    # ``python -m tools.ros_schema --have``: exit 0 when every pinned wheel is downloaded (./scripts/test).
    if sys.argv[1:] != ["--have"]:
        sys.exit("usage: python -m tools.ros_schema --have")
    sys.exit(0 if all(wheel.is_file() for wheel in pinned_wheels()) else 1)
