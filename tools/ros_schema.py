"""ROS's resource schemas, read from the official ROS CDK (the oracle for ``template.yml``'s properties).

The ROS CDK is generated from ROS's resource type schemas: for each resource type, its ``*.generated.js`` has a
``ros<Name>PropsToRosTemplate`` function returning every property ROS accepts (``'BucketName': ...``; a list goes
through ``ros.listMapper``, a nested object through its own ``ros<Name><Sub>PropertyToRosTemplate``), a
``Ros<Name>PropsValidator`` (and ``Ros<Name>_<Sub>PropertyValidator``) with what ROS checks of the values (required,
``validateRange``, ``validateLength``, ``validateAllowedValues``, ``validateAllowedPattern``), and the attributes
``Fn::GetAtt`` may read (``this.getAtt('Arn')``). The Python wheels on PyPI (``ros-cdk-oss`` ...) carry that
JavaScript in their jsii assembly; ``./scripts/test`` downloads the pinned wheels (``tests/oracles/ros-cdk.txt``,
hashes checked) into ``.venv/oracles/``, without their dependencies (nothing here runs them).

:func:`load` gives the :class:`Schema`; :func:`problems` lists what a template uses that ROS does not have or would
refuse. A value is checked where the template decides it: a literal, each branch of an ``Fn::If`` (a branch that is
``ALIYUN::NoValue`` removes the property), and a ``Ref`` to one of the template's parameters (its ``Default``,
``AllowedValues``, ``MinValue`` and ``MaxValue``); other functions (``Fn::Sub``, ``Fn::GetAtt``...) are ROS's to
resolve.
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
_NESTED = re.compile(r"\b(ros\w+PropertyToRosTemplate)\b")
_VALIDATOR_FUNCTION = re.compile(r"^function (Ros\w+?)(Props|Property)Validator\(properties\)", re.MULTILINE)
_REQUIRED = re.compile(r"propertyValidator\('(\w+)', ros\.requiredValidator\)")
_BOUNDED = re.compile(
    r"propertyValidator\('(\w+)', ros\.(validateRange|validateLength|validateAllowedValues|validateAllowedPattern)\)"
    r"\(\{(.*?)\}\)\);",
    re.DOTALL,
)
_ARGUMENT = re.compile(r"(\w+): (\[.*?\]|[^,\n]+),", re.DOTALL)
_PATTERN = re.compile(r"reg: /(.*)/[a-z]*\s*$", re.MULTILINE)
_ATTRIBUTE = re.compile(r"this\.getAtt\('([\w.]+)'\)")
_CLASS = re.compile(r"^class (Ros\w+) extends ros\.RosResource", re.MULTILINE)

NO_VALUE = "ALIYUN::NoValue"
_REMOVED = object()  # a branch that is ``{Ref: ALIYUN::NoValue}``: the property is not there


@dataclass
class Rule:
    """What ROS's validators ask of one property's value: present, within a range (numbers), of a length (strings
    and lists), one of some values, matching a pattern (strings)."""

    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    allowed: list[Any] | None = None
    pattern: str | None = None

    def problem(self, value: Any) -> str | None:
        """Why a literal ``value`` is refused, or None."""
        if self.allowed is not None and value not in self.allowed:
            return f"{value!r} is not one of {self.allowed}"
        if self.pattern is not None and isinstance(value, str) and not re.search(self.pattern, value):
            return f"{value!r} does not match {self.pattern}"
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
class Prop:
    """One property: its nested property function (its value, or each item of it, is an object of those), whether
    ROS takes a list (``list``) or an object (``object``) there, or anything (None), and its rule."""

    nested: str | None = None
    shape: str | None = None
    rule: Rule = field(default_factory=Rule)


@dataclass
class Resource:
    """One resource type: the function of its properties and the attributes ``Fn::GetAtt`` can read."""

    type: str
    function: str
    attributes: set[str] = field(default_factory=set)


@dataclass
class Schema:
    resources: dict[str, Resource]
    #: props or nested property function → property name → :class:`Prop`
    functions: dict[str, dict[str, Prop]]


def _props(source: str, start: int) -> tuple[dict[str, Prop], dict[str, str]]:
    """The ``return { ... }`` object of the function starting at ``start``: name → :class:`Prop` (rules to come),
    and the validators' (camelCase) name of each property → its name."""
    begin = source.index("return {", start)
    end = source.index("\n    };", begin)
    props: dict[str, Prop] = {}
    names: dict[str, str] = {}
    for line in source[begin + len("return {"):end].splitlines():
        match = _ENTRY.match(line)
        if match is None:
            continue
        key, expression = match.group(1), match.group(2)
        nested = _NESTED.search(expression)
        if "ros.listMapper(" in expression:
            shape: str | None = "list"
        elif nested is not None or "ros.hashMapper(" in expression:
            shape = "object"
        else:
            shape = None
        props[key] = Prop(nested.group(1) if nested else None, shape)
        camel = _CAMEL.search(expression)
        if camel:
            names[camel.group(1)] = key
    return props, names


def _literal(text: str | None) -> Any:
    """A validator's argument (JSON-like JavaScript); ``undefined`` (or absent) is None: no bound."""
    return None if text is None or text.strip() == "undefined" else json.loads(text.strip())


def _apply_rules(body: str, props: Mapping[str, Prop], names: Mapping[str, str]) -> None:
    """Fill in each property's rule from the body of its ``Ros...Validator`` function."""
    for camel in _REQUIRED.findall(body):
        if camel in names:
            props[names[camel]].rule.required = True
    for camel, kind, arguments in _BOUNDED.findall(body):
        if camel not in names:
            continue
        rule = props[names[camel]].rule
        values = dict(_ARGUMENT.findall(arguments))
        if kind == "validateAllowedPattern":
            pattern = _PATTERN.search(arguments)
            rule.pattern = pattern.group(1) if pattern else None
        elif kind == "validateAllowedValues":
            rule.allowed = _literal(values["allowedValues"])
        elif kind == "validateRange":
            rule.minimum, rule.maximum = _literal(values.get("min")), _literal(values.get("max"))
        else:
            rule.min_length, rule.max_length = _literal(values.get("min")), _literal(values.get("max"))


def parse(source: str) -> Schema:
    """The resource types of one ``*.generated.js``."""
    parsed = {m.group(1): _props(source, m.end()) for m in _FUNCTION.finditer(source)}
    validators = list(_VALIDATOR_FUNCTION.finditer(source))
    for i, match in enumerate(validators):
        # RosBucketPropsValidator → rosBucketPropsToRosTemplate; RosBucket_RulePropertyValidator → rosBucketRule...
        target = "r" + match.group(1)[1:].replace("_", "") + match.group(2) + "ToRosTemplate"
        if target in parsed:
            body = source[match.end():validators[i + 1].start() if i + 1 < len(validators) else len(source)]
            _apply_rules(body[:body.find("\n}\n")], *parsed[target])
    classes = [(m.group(1), m.start()) for m in _CLASS.finditer(source)]
    bodies = {name: source[at:classes[i + 1][1] if i + 1 < len(classes) else len(source)]
              for i, (name, at) in enumerate(classes)}
    resources = {}
    for match in _RESOURCE_TYPE.finditer(source):
        class_name, type_name = match.group(1), match.group(2)
        function = f"ros{class_name[3:]}PropsToRosTemplate"
        if function in parsed:
            attributes = set(_ATTRIBUTE.findall(bodies.get(class_name, "")))
            resources[type_name] = Resource(type_name, function, attributes)
    return Schema(resources, {name: props for name, (props, _) in parsed.items()})


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
            schema.functions.update(part.functions)
    return schema


def _is_function(value: Any) -> bool:
    """A ROS function: a map of one key, ``Ref`` or ``Fn::...`` (a property named ``RefererList`` is not one)."""
    return isinstance(value, dict) and len(value) == 1 and (next(iter(value)) == "Ref" or
                                                            next(iter(value)).startswith("Fn::"))


def _values(value: Any, parameters: Mapping[str, Any], *, items: bool = False) -> Iterator[tuple[Any, bool]]:
    """What ``value`` may be, as far as the template decides it: (value, came from a parameter). ``_REMOVED`` for a
    branch that removes the property. ``items``: each item of a list, with the list's own functions resolved."""
    if _is_function(value):
        (name, argument), = value.items()
        if name == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
            for branch in argument[1:]:
                yield from _values(branch, parameters, items=items)
        elif name == "Ref" and argument == NO_VALUE:
            yield _REMOVED, False
        elif name == "Ref" and argument in parameters:
            parameter = parameters[argument]
            decided = [parameter[k] for k in ("Default", "MinValue", "MaxValue") if k in parameter]
            for decided_value in [*decided, *parameter.get("AllowedValues", [])]:
                yield decided_value, True
    elif items and isinstance(value, list):
        for item in value:
            yield from _values(item, parameters)
    else:
        yield value, False


def _check(value: Mapping[str, Any], props: Mapping[str, Prop], schema: Schema, where: str,
           parameters: Mapping[str, Any]) -> Iterator[str]:
    """What the properties ``value`` (of a function whose properties are ``props``) have that ROS refuses."""
    for key, prop in props.items():
        if not prop.rule.required:
            continue
        if key not in value:
            yield f"{where}.{key}: required by ROS, missing"
        elif any(v is _REMOVED for v, _ in _values(value[key], parameters)):
            yield f"{where}.{key}: required by ROS, removed by a branch of an Fn::If ({NO_VALUE})"
    for key, item in value.items():
        if key not in props:
            yield f"{where}.{key}: not a property ROS knows here (it has: {', '.join(sorted(props))})"
            continue
        yield from _check_value(item, props[key], schema, f"{where}.{key}", parameters)


def _check_value(item: Any, prop: Prop, schema: Schema, where: str, parameters: Mapping[str, Any]) -> Iterator[str]:
    for value, from_parameter in _values(item, parameters):
        if value is _REMOVED:
            continue
        if not from_parameter:  # a parameter's text may stand for a list (CommaDelimitedList): ROS's to convert
            if prop.shape == "list" and not isinstance(value, list):
                yield f"{where}: ROS takes a list here"
                continue
            if prop.shape == "object" and not isinstance(value, dict):
                yield f"{where}: ROS takes an object here"
                continue
        refused = prop.rule.problem(value)
        if refused is not None:
            yield f"{where}: {refused}"
        nested = schema.functions.get(prop.nested or "")
        if nested is None:
            continue
        if isinstance(value, list):
            for index, element in enumerate(value):
                for member, _ in _values(element, parameters):
                    if isinstance(member, dict):
                        yield from _check(member, nested, schema, f"{where}[{index}]", parameters)
                    elif member is not _REMOVED:
                        yield f"{where}[{index}]: ROS takes an object here"
        elif isinstance(value, dict):
            yield from _check(value, nested, schema, where, parameters)


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
    """What ``template`` uses that ROS's schemas do not have or would refuse (see the module docstring):
    resource types, properties (nested ones included), their values, and attributes read with
    ``Fn::GetAtt``/``Fn::Sub``."""
    found: list[str] = []
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    for name, resource in resources.items():
        known = schema.resources.get(resource["Type"])
        if known is None:
            found.append(f"{name}: resource type {resource['Type']} is not in the ROS CDK wheels given")
            continue
        found.extend(_check(resource.get("Properties", {}), schema.functions[known.function], schema, name,
                            parameters))
    for resource_name, attribute in _attribute_reads(template):
        if resource_name.startswith("ALIYUN::") or resource_name not in resources:
            continue  # a pseudo parameter (${ALIYUN::AccountId}) or a parameter
        known = schema.resources.get(resources[resource_name]["Type"])
        if known is not None and attribute not in known.attributes:
            found.append(f"{resource_name}: attribute {attribute} is not one ROS gives "
                         f"(it has: {', '.join(sorted(known.attributes))})")
    return list(dict.fromkeys(found))  # once each (a parameter's Default and MaxValue may break the same rule)


if __name__ == "__main__":
    # ``python -m tools.ros_schema --have``: exit 0 when every pinned wheel is downloaded (./scripts/test).
    if sys.argv[1:] != ["--have"]:
        sys.exit("usage: python -m tools.ros_schema --have")
    sys.exit(0 if all(wheel.is_file() for wheel in pinned_wheels()) else 1)
