"""What ``s.yaml`` deploys, read from ``s.yaml`` itself: the one home of the function names and default region.

Each fc3 resource names its function ``functionName: ${vars.prefix}-result-fetcher`` and its code
``code: ./build/result_fetcher``; ``vars.prefix`` is ``${env('KYC_NAME_PREFIX', 'kyc')}``. The local gateway serves
the FC 3.0 API under exactly these names and ``./scripts/kyc invoke`` turns a folder name into them, so neither
keeps a copy of the naming rule. Only the Serverless Devs expressions s.yaml uses are understood:
``${env('NAME')}`` / ``${env('NAME', 'default')}``, ``${vars.name}`` and, in the functions' environments
(:func:`function_environments`, for ``kyc doctor --from-s-yaml``), ``${resources.<name>.output.<Key>}``.
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
_ENV = re.compile(r"\$\{env\(\s*'(?P<name>[A-Za-z0-9_]+)'\s*(?:,\s*'(?P<default>[^']*)'\s*)?\)\}")
_VARS = re.compile(r"\$\{vars\.(?P<name>[A-Za-z0-9_]+)\}")
_CODE = re.compile(r"^(?:\./)?build/(?P<folder>[A-Za-z0-9_]+)/?$")
_OUTPUT = re.compile(r"\$\{resources\.(?P<resource>[A-Za-z0-9_-]+)\.output\.(?P<key>[A-Za-z0-9_]+)\}")


class DeploymentError(Exception):
    """s.yaml does not have the shape this module reads."""


def load_s_yaml(path: Path = S_YAML) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeploymentError(f"cannot read {path.name}: {type(exc).__name__}") from None
    if not isinstance(data, dict) or not isinstance(data.get("resources"), dict):
        raise DeploymentError(f"{path.name} has no resources")
    return data


def resolve(value: str, data: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """``value`` with ``${vars.x}`` and ``${env('N', 'd')}`` replaced as Serverless Devs does (an unset or empty
    variable takes the default; without a default it becomes empty)."""

    def var(match: re.Match[str]) -> str:
        raw = (data.get("vars") or {}).get(match["name"])
        if not isinstance(raw, str):
            raise DeploymentError(f"s.yaml vars.{match['name']} is not a string")
        return resolve(raw, data, env)

    def environment(match: re.Match[str]) -> str:
        return env.get(match["name"]) or match["default"] or ""

    return _ENV.sub(environment, _VARS.sub(var, value))


def _fc3_resources(data: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """s.yaml resource key -> (function folder, props) for every fc3 resource."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, resource in data["resources"].items():
        if not isinstance(resource, dict) or resource.get("component") != "fc3":
            continue
        props = resource.get("props") or {}
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
    env: Mapping[str, str], outputs: Mapping[str, str] | None = None, path: Path = S_YAML
) -> FunctionEnvironments:
    """Each function's environment as ``s deploy`` would set it from the exported variables ``env``:
    ``${env('N', 'd')}`` and ``${vars.x}`` as Serverless Devs resolves them (:func:`resolve`), and
    ``${resources.<r>.output.<Key>}`` from ``outputs`` (the stack's outputs by key). A variable whose output is not
    in ``outputs`` is taken from ``env`` when the operator exported it under its own name (``KYC_OSS_BUCKET``, as
    docs/operations.md asks for the CLI), else left out and listed in ``missing_outputs``."""
    data = load_s_yaml(path)
    outputs = outputs or {}
    functions: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    for folder, props in _fc3_resources(data).values():
        declared = props.get("environmentVariables") or {}
        if not isinstance(declared, dict):
            raise DeploymentError(f"s.yaml function {folder} has no environmentVariables map")
        variables: dict[str, str] = {}
        for name, raw in declared.items():
            value = str(raw)
            needed = [m["key"] for m in _OUTPUT.finditer(value)]
            unknown = [key for key in needed if key not in outputs]
            if unknown:
                if env.get(name):
                    variables[name] = env[name]
                else:
                    missing[name] = unknown[0]
                continue
            value = _OUTPUT.sub(lambda m: outputs[m["key"]], value)
            variables[str(name)] = resolve(value, data, env)
        functions[folder] = variables
    return FunctionEnvironments(functions=functions, missing_outputs=missing)


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
