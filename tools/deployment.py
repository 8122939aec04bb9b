"""What ``s.yaml`` deploys, read from ``s.yaml`` itself: the one home of the function names and default region,
and of what a deployment's functions are configured with (``function_environment``, from the ROS stack's outputs).

Each fc3 resource names its function ``functionName: ${vars.prefix}-result-fetcher`` and its code
``code: ./build/result_fetcher``; ``vars.prefix`` is ``${env('KYC_NAME_PREFIX', 'kyc')}``. The local gateway serves
the FC 3.0 API under exactly these names and ``./scripts/kyc invoke`` turns a folder name into them, so neither
keeps a copy of the naming rule. Only the two Serverless Devs expressions s.yaml uses for these values are
understood: ``${env('NAME')}`` / ``${env('NAME', 'default')}`` and ``${vars.name}``, and, for the functions'
environment, ``${resources.<stack>.output.<Key>}`` given the stack's outputs (:func:`function_environments`: each
function's own, for ``kyc doctor --from-s-yaml``; :func:`function_environment`: their union, for a local stand-in).

The stack is ``template.yml`` (ROS). ``stack_parameters`` gives the parameters ``s deploy`` passes it (s.yaml's
``kyc-infra`` parameters over the template's defaults) and ``ros_value`` evaluates the few ROS forms the
template's names and outputs use (``Ref``, ``Fn::Sub`` with a string, ``Fn::GetAtt``), so a local stand-in of the
stack (``tools.devstack.aliyun``) names its bucket, table and queues as a deployment would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # tools only (requirements-dev.txt); no stubs installed

PROJECT_ROOT = Path(__file__).resolve().parents[1]
S_YAML = PROJECT_ROOT / "s.yaml"
TEMPLATE = PROJECT_ROOT / "template.yml"
STACK_RESOURCE = "kyc-infra"  # s.yaml's ros resource: the functions read its outputs
_ENV = re.compile(r"\$\{env\(\s*'(?P<name>[A-Za-z0-9_]+)'\s*(?:,\s*'(?P<default>[^']*)'\s*)?\)\}")
_VARS = re.compile(r"\$\{vars\.(?P<name>[A-Za-z0-9_]+)\}")
_OUTPUT = re.compile(r"\$\{resources\.(?P<resource>[A-Za-z0-9_-]+)\.output\.(?P<name>[A-Za-z0-9_]+)\}")
_SUB = re.compile(r"\$\{(?P<name>[A-Za-z0-9_:.]+)\}")
_CODE = re.compile(r"^(?:\./)?build/(?P<folder>[A-Za-z0-9_]+)/?$")


class DeploymentError(Exception):
    """s.yaml does not have the shape this module reads."""


def _load_yaml(path: Path, section: str) -> dict[str, Any]:
    """The YAML mapping in ``path``, which must hold a ``section`` mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeploymentError(f"cannot read {path.name}: {type(exc).__name__}") from None
    if not isinstance(data, dict) or not isinstance(data.get(section), dict):
        raise DeploymentError(f"{path.name} has no {section}")
    return data


def _mapping(value: Any, where: str) -> dict[str, Any]:
    """``value`` when it is a mapping, ``{}`` when it is absent (``None``); any other shape is a ``DeploymentError``
    naming ``where``, so a hand-edited s.yaml or template.yml fails with its place, not an ``AttributeError``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DeploymentError(f"{where} is not a map")
    return value


def load_s_yaml(path: Path = S_YAML) -> dict[str, Any]:
    return _load_yaml(path, "resources")


def resolve(
    value: str, data: Mapping[str, Any], env: Mapping[str, str], outputs: Mapping[str, str] | None = None
) -> str:
    """``value`` with ``${vars.x}`` and ``${env('N', 'd')}`` replaced as Serverless Devs does (an unset or empty
    variable takes the default; without a default it becomes empty), and ``${resources.<stack>.output.<Key>}``
    from ``outputs`` when given (a key it lacks is a ``DeploymentError``)."""

    def output(match: re.Match[str]) -> str:
        if outputs is None:
            return match[0]
        if match["resource"] != STACK_RESOURCE or match["name"] not in outputs:
            raise DeploymentError(f"no stack output {match['resource']}.{match['name']}")
        return outputs[match["name"]]

    return _OUTPUT.sub(output, _expand(value, data, env, ()))


def _expand(value: str, data: Mapping[str, Any], env: Mapping[str, str], within: tuple[str, ...]) -> str:
    """``value`` with its ``${vars.x}`` (each expanded in turn) and ``${env(...)}`` replaced; ``within`` holds the
    vars being expanded, so a var that reaches itself is a ``DeploymentError``, not a ``RecursionError``."""

    def var(match: re.Match[str]) -> str:
        name = match["name"]
        if name in within:
            raise DeploymentError(f"s.yaml vars.{name} refers to itself")
        raw = _mapping(data.get("vars"), "s.yaml vars").get(name)
        if not isinstance(raw, str):
            raise DeploymentError(f"s.yaml vars.{name} is not a string")
        return _expand(raw, data, env, (*within, name))

    def environment(match: re.Match[str]) -> str:
        return env.get(match["name"]) or match["default"] or ""

    return _ENV.sub(environment, _VARS.sub(var, value))


def _fc3_resources(data: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """s.yaml resource key -> (function folder, props) for every fc3 resource."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, resource in data["resources"].items():
        if not isinstance(resource, dict) or resource.get("component") != "fc3":
            continue
        props = _mapping(resource.get("props"), f"s.yaml resource {key} props")
        match = _CODE.match(str(props.get("code", "")))
        if match is None or not isinstance(props.get("functionName"), str):
            raise DeploymentError(f"s.yaml resource {key} has no functionName or ./build/<folder> code")
        found[key] = (match["folder"], props)
    return found


@dataclass(frozen=True)
class FunctionEnvironments:
    """What each deployed function's ``environmentVariables`` resolve to (function folder -> variables), and the
    stack outputs that were needed but not given (variable -> output key), whose variables are left out."""

    functions: dict[str, dict[str, str]]
    missing_outputs: dict[str, str]


def function_environments(
    env: Mapping[str, str],
    outputs: Mapping[str, str] | None = None,
    path: Path = S_YAML,
    *,
    exported_fallback: bool = True,
) -> FunctionEnvironments:
    """Each function's environment as ``s deploy`` would set it from the exported variables ``env``:
    ``${env('N', 'd')}`` and ``${vars.x}`` as Serverless Devs resolves them, ``${resources.<r>.output.<Key>}``
    from ``outputs`` (:func:`resolve`). A variable whose output is not in ``outputs`` is taken from ``env`` when
    the operator exported it under its own name (``KYC_OSS_BUCKET``, as docs/operations.md asks for the CLI;
    ``exported_fallback``), else left out and listed in ``missing_outputs``."""
    data = load_s_yaml(path)
    outputs = outputs or {}
    functions: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    for folder, props in _fc3_resources(data).values():
        declared = _mapping(props.get("environmentVariables"), f"s.yaml function {folder} environmentVariables")
        variables: dict[str, str] = {}
        for name, raw in declared.items():
            value = str(raw)
            unknown = [m["name"] for m in _OUTPUT.finditer(value) if m["name"] not in outputs]
            if unknown:
                if exported_fallback and env.get(name):
                    variables[str(name)] = env[name]
                else:
                    missing[str(name)] = unknown[0]
                continue
            variables[str(name)] = resolve(value, data, env, outputs)
        functions[folder] = variables
    return FunctionEnvironments(functions=functions, missing_outputs=missing)


def function_folders(path: Path = S_YAML) -> tuple[str, ...]:
    """The function folders s.yaml deploys (``initializer``, ``result_fetcher``, ...), in its order."""
    return tuple(folder for folder, _ in _fc3_resources(load_s_yaml(path)).values())


def function_timeouts(path: Path = S_YAML) -> dict[str, int]:
    """Each function folder's FC timeout in seconds (``timeout`` in s.yaml): what FC's context tells the function
    (``context.function.timeout``), which the local gateway tells the local functions too."""
    return {folder: int(props["timeout"]) for folder, props in _fc3_resources(load_s_yaml(path)).values()
            if isinstance(props.get("timeout"), int)}  # fmt: skip


def function_async_retries(path: Path = S_YAML) -> dict[str, int]:
    """Each function folder's ``asyncInvokeConfig.maxAsyncRetryAttempts`` where s.yaml sets it: how often FC retries a
    failed asynchronous invocation of it (FC's default otherwise)."""
    found = {}
    for folder, props in _fc3_resources(load_s_yaml(path)).values():
        config = props.get("asyncInvokeConfig")
        retries = config.get("maxAsyncRetryAttempts") if isinstance(config, dict) else None
        if isinstance(retries, int) and not isinstance(retries, bool):
            found[folder] = retries
    return found


def deployed_functions(env: Mapping[str, str] | None = None, path: Path = S_YAML) -> dict[str, str]:
    """Deployed FC function name -> function folder (``kyc-result-fetcher`` -> ``result_fetcher``), with the
    prefix from ``env`` (``KYC_NAME_PREFIX``) or s.yaml's default."""
    data = load_s_yaml(path)
    return {
        resolve(props["functionName"], data, env or {}): folder for folder, props in _fc3_resources(data).values()
    }


def default_region(env: Mapping[str, str] | None = None, path: Path = S_YAML) -> str:
    """The FC region s.yaml deploys to (``vars.region``: ``KYC_REGION`` or its default)."""
    return resolve("${vars.region}", load_s_yaml(path), env or {})


def function_environment(outputs: Mapping[str, str], env: Mapping[str, str] | None = None,
                         path: Path = S_YAML) -> dict[str, str]:
    """The environment s.yaml gives the functions, resolved as ``s deploy`` would with these stack outputs and the
    deploy-time ``env``: the union over every fc3 function (each variable means the same in every function that
    sets it; a ``DeploymentError`` if two functions disagree, or a variable names an output not given)."""
    resolved = function_environments(env or {}, outputs, path, exported_fallback=False)
    for key in resolved.missing_outputs.values():
        raise DeploymentError(f"no stack output {STACK_RESOURCE}.{key}")
    merged: dict[str, str] = {}
    for folder, variables in resolved.functions.items():
        for name, value in variables.items():
            if merged.setdefault(name, value) != value:
                raise DeploymentError(f"s.yaml gives {name} different values in different functions ({folder})")
    return merged


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return _load_yaml(path, "Resources")


def stack_parameters(env: Mapping[str, str] | None = None, path: Path = S_YAML,
                     template_path: Path = TEMPLATE) -> dict[str, str]:
    """The stack's parameters as ``s deploy`` passes them: s.yaml's ``kyc-infra`` parameters (resolved) over
    template.yml's defaults, every value as text."""
    template = load_template(template_path)
    parameters = {
        name: str(spec["Default"])
        for name, spec in _mapping(template.get("Parameters"), f"{template_path.name} Parameters").items()
        if isinstance(spec, dict) and "Default" in spec
    }
    data = load_s_yaml(path)
    stack = data["resources"].get(STACK_RESOURCE)
    if not isinstance(stack, dict):
        raise DeploymentError(f"s.yaml has no {STACK_RESOURCE} resource")
    props = _mapping(stack.get("props"), f"s.yaml resource {STACK_RESOURCE} props")
    for name, raw in _mapping(props.get("parameters"), f"s.yaml resource {STACK_RESOURCE} parameters").items():
        parameters[name] = resolve(str(raw), data, env or {})
    return parameters


def ros_value(value: Any, names: Mapping[str, str], attributes: Mapping[str, str]) -> str | None:
    """A template value: a literal, ``{Ref: P}``, ``{Fn::Sub: "..${P}.."}``, ``{Fn::GetAtt: [Resource, Attr]}`` or
    ``{Fn::Str: <one of those>}``.

    ``names`` holds the parameters and pseudo parameters (``ALIYUN::AccountId``...), ``attributes`` the
    ``"Resource.Attr"`` values known; ``None`` when the value needs one that is not known (or another function)."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((function, argument),) = value.items()
    if function == "Ref" and isinstance(argument, str):
        return names.get(argument)
    if function == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
        return attributes.get(f"{argument[0]}.{argument[1]}")
    if function == "Fn::Str":  # a number's text; every value here is text already
        return ros_value(argument, names, attributes)
    if function == "Fn::Sub" and isinstance(argument, str):
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            found = names.get(match["name"], attributes.get(match["name"]))
            if found is None:
                missing.append(match["name"])
                return ""
            return found

        text = _SUB.sub(substitute, argument)
        return None if missing else text
    return None
