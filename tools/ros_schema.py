"""ROS's resource schemas, read from the official ROS CDK (the oracle for ``template.yml``'s properties).

The ROS CDK is generated from ROS's resource type schemas: for each resource type, its ``*.generated.js`` has a
``ros<Name>PropsToRosTemplate`` function returning every property ROS accepts (``'BucketName': ...``), one
``ros<Name><Sub>PropertyToRosTemplate`` function per nested property type, a ``Ros<Name>PropsValidator`` (and
``Ros<Name>_<Sub>PropertyValidator``) with what ROS checks of the values (required, ``validateRange``,
``validateLength``, ``validateAllowedValues``), and the attributes ``Fn::GetAtt`` may read
(``this.getAtt('Arn')``). The Python wheels on PyPI (``ros-cdk-oss`` ...) carry that JavaScript in their
jsii assembly; ``./scripts/test`` downloads the pinned wheels (``tests/oracles/ros-cdk.txt``, hashes checked)
into ``.venv/oracles/``, without their dependencies (nothing here runs them).

:func:`load` gives the :class:`Schema`; :func:`problems` lists what a template uses that ROS does not have or
would refuse (literal values only, and both branches of an ``Fn::If``: a ``Ref`` to a parameter is ROS's to check).
"""

from __future__ import annotations

import io
import json
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
_CAMEL = re.compile(r"\(properties\.(\w+)\)")
_VALIDATOR_FUNCTION = re.compile(r"^function (Ros\w+?)(Props|Property)Validator\(properties\)", re.MULTILINE)
_REQUIRED = re.compile(r"propertyValidator\('(\w+)', ros\.requiredValidator\)")
_BOUNDED = re.compile(
    r"propertyValidator\('(\w+)', ros\.(validateRange|validateLength|validateAllowedValues)\)\(\{(.*?)\}\)\);",
    re.DOTALL,
)
_NESTED = re.compile(r"\b(ros\w+PropertyToRosTemplate)\b")
_ATTRIBUTE = re.compile(r"this\.getAtt\('([\w.]+)'\)")
_CLASS = re.compile(r"^class (Ros\w+) extends ros\.RosResource", re.MULTILINE)


@dataclass
class Rule:
    """What ROS's validators ask of one property's value: present, within a range (numbers), of a length (strings
    and lists), one of some values."""

    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    allowed: list[Any] | None = None

    def problem(self, value: Any) -> str | None:
        """Why a literal ``value`` is refused, or None."""
        if self.allowed is not None and value not in self.allowed:
            return f"{value!r} is not one of {self.allowed}"
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and self.minimum is not None and value < self.minimum:
            return f"{value} is below {self.minimum:g}"
        if number and self.maximum is not None and value > self.maximum:
            return f"{value} is above {self.maximum:g}"
        if isinstance(value, (str, list)):
            if self.min_length is not None and len(value) < self.min_length:
                return f"is shorter than {self.min_length}"
            if self.max_length is not None and len(value) > self.max_length:
                return f"is longer than {self.max_length}"
        return None


@dataclass
class Resource:
    """One resource type: its properties (name → nested property function, or None for a plain value) and the
    attributes ``Fn::GetAtt`` can read."""

    type: str
    properties: dict[str, str | None]
    attributes: set[str] = field(default_factory=set)
    #: the function of its properties (``rules`` key)
    function: str = ""


@dataclass
class Schema:
    resources: dict[str, Resource]
    #: nested property function → its properties (name → nested function or None)
    nested: dict[str, dict[str, str | None]]
    #: props or nested property function → property name → what its validator asks
    rules: dict[str, dict[str, Rule]] = field(default_factory=dict)


def _return_entries(source: str, start: int) -> tuple[dict[str, str | None], dict[str, str]]:
    """The ``return { ... }`` object of the function starting at ``start``: key → nested function (or None), and
    the validators' (camelCase) name of each key → the key."""
    begin = source.index("return {", start)
    end = source.index("\n    };", begin)
    entries: dict[str, str | None] = {}
    names: dict[str, str] = {}
    for line in source[begin + len("return {"):end].splitlines():
        match = _ENTRY.match(line)
        if match:
            nested = _NESTED.search(match.group(2))
            entries[match.group(1)] = nested.group(1) if nested else None
            camel = _CAMEL.search(match.group(2))
            if camel:
                names[camel.group(1)] = match.group(1)
    return entries, names


def _literal(text: str | None) -> Any:
    """A validator's argument (JSON-like JavaScript); ``undefined`` (or absent) is None: no bound."""
    return None if text is None or text.strip() == "undefined" else json.loads(text.strip())


def _rules(body: str, names: Mapping[str, str]) -> dict[str, Rule]:
    """Property (template) name → its rule, from the body of one ``Ros...Validator`` function."""
    rules: dict[str, Rule] = {}
    for camel in _REQUIRED.findall(body):
        if camel in names:
            rules.setdefault(names[camel], Rule()).required = True
    for camel, kind, arguments in _BOUNDED.findall(body):
        if camel not in names:
            continue
        rule = rules.setdefault(names[camel], Rule())
        fields_ = dict(re.findall(r"(\w+): (\[.*?\]|[^,\n]+),", arguments, re.DOTALL))
        if kind == "validateAllowedValues":
            rule.allowed = _literal(fields_["allowedValues"])
        elif kind == "validateRange":
            rule.minimum, rule.maximum = _literal(fields_.get("min")), _literal(fields_.get("max"))
        else:
            rule.min_length, rule.max_length = _literal(fields_.get("min")), _literal(fields_.get("max"))
    return rules


def parse(source: str) -> Schema:
    """The resource types of one ``*.generated.js``."""
    parsed = {m.group(1): _return_entries(source, m.end()) for m in _FUNCTION.finditer(source)}
    functions = {name: entries for name, (entries, _) in parsed.items()}
    rules: dict[str, dict[str, Rule]] = {}
    validators = list(_VALIDATOR_FUNCTION.finditer(source))
    for i, match in enumerate(validators):
        # RosBucketPropsValidator → rosBucketPropsToRosTemplate; RosBucket_RulePropertyValidator → rosBucketRule...
        target = "r" + match.group(1)[1:].replace("_", "") + match.group(2) + "ToRosTemplate"
        if target in parsed:
            body = source[match.end():validators[i + 1].start() if i + 1 < len(validators) else len(source)]
            rules[target] = _rules(body[:body.find("\n}\n")], parsed[target][1])
    classes = [(m.group(1), m.start()) for m in _CLASS.finditer(source)]
    bodies = {name: source[at:classes[i + 1][1] if i + 1 < len(classes) else len(source)]
              for i, (name, at) in enumerate(classes)}
    resources = {}
    for match in _RESOURCE_TYPE.finditer(source):
        class_name, type_name = match.group(1), match.group(2)
        props_function = f"ros{class_name[3:]}PropsToRosTemplate"
        props = functions.get(props_function)
        if props is None:
            continue
        attributes = set(_ATTRIBUTE.findall(bodies.get(class_name, "")))
        resources[type_name] = Resource(type_name, props, attributes, props_function)
    nested = {name: entries for name, entries in functions.items() if name.endswith("PropertyToRosTemplate")}
    return Schema(resources, nested, rules)


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
            schema.rules.update(part.rules)
    return schema


def _intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def _literals(value: Any) -> Iterator[Any]:
    """The values ``value`` may be when it is a literal, or either branch of an ``Fn::If`` (nothing for the rest:
    a ``Ref`` to a parameter, an ``Fn::Sub``... are ROS's to resolve)."""
    if isinstance(value, dict):
        if _intrinsic(value) and "Fn::If" in value:
            for branch in value["Fn::If"][1:]:
                yield from _literals(branch)
        elif not _intrinsic(value):
            yield value
    else:
        yield value


def _check(value: Any, function: str, schema: Schema, where: str) -> Iterator[str]:
    """What ``value`` (the properties of ``function``) has that ROS's schema refuses."""
    allowed = schema.nested.get(function) or next(
        (r.properties for r in schema.resources.values() if r.function == function), {})
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _check(item, function, schema, f"{where}[{index}]")
        return
    if not isinstance(value, dict):
        return
    if _intrinsic(value):
        if "Fn::If" in value:  # either branch may be what ROS sees
            for branch in value["Fn::If"][1:]:
                yield from _check(branch, function, schema, where)
        return
    rules = schema.rules.get(function, {})
    for key in sorted(key for key, rule in rules.items() if rule.required and key not in value):
        yield f"{where}.{key}: required by ROS, missing"
    for key, item in value.items():
        if key not in allowed:
            yield f"{where}.{key}: not a property ROS knows here (it has: {', '.join(sorted(allowed))})"
            continue
        if key in rules:
            for literal in _literals(item):
                refused = rules[key].problem(literal)
                if refused is not None:
                    yield f"{where}.{key}: {refused}"
        nested = allowed[key]
        if nested is not None and nested in schema.nested:
            yield from _check(item, nested, schema, f"{where}.{key}")


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
        found.extend(_check(resource.get("Properties", {}), known.function, schema, name))
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
