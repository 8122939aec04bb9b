"""Which environment the doctor examines: the functions' own, read from one of three places.

* the process environment (the default: on a machine or in a CI job that exports what the functions get);
* the process environment with ``--env-file FILE`` on top (``NAME=value`` lines, shell-quoted, ``export`` allowed:
  ``./scripts/dev --aliyun-doubles`` writes one, ``<data dir>/aliyun-doubles.env``);
* ``--from-s-yaml``: each function's ``environmentVariables`` as ``s deploy`` would set them from the exported
  variables (``tools.deployment.function_environments``: ``${env('N', 'default')}``, ``${vars.x}``, and the stack's
  outputs from ``--stack-outputs``/``--stack-output`` or, failing those, the same-named exported variable), plus the
  exported ``ALIBABA_CLOUD_*`` credentials standing in for the role FC injects.

The checks that are about one function (its ``initialize``) get that function's environment; the others read the
union, which must agree wherever two functions set the same variable.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import jsonutil
from shared.config import env_str
from tools.credentials import VARIABLES as CREDENTIAL_VARIABLES

from .report import Finding, problem


class InputError(Exception):
    """The environment cannot be read as asked (a bad env file, s.yaml or outputs file): a usage error."""


@dataclass(frozen=True)
class Inputs:
    """What the checks read. ``functions``: each function's environment; ``env``: their union; ``notes``: problems
    found while putting them together; ``fc_region``: the functions' region and where it was read."""

    source: str
    env: Mapping[str, str]
    functions: Mapping[str, Mapping[str, str]]
    fc_region: tuple[str, str] | None = None
    from_s_yaml: bool = False
    notes: Sequence[Finding] = field(default_factory=tuple)
    missing_outputs: Mapping[str, str] = field(default_factory=dict)  # variable -> the stack output it comes from


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` per line (``#`` comments, blank lines and a leading ``export`` allowed; values shell-quoted).
    Errors name the line, never its value."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--env-file {str(path)!r} cannot be read ({type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise InputError(f"--env-file {str(path)!r} is not UTF-8 text") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            raise InputError(f"--env-file line {number} is not NAME=value (unbalanced quotes)") from None
        if words[:1] == ["export"]:
            words = words[1:]
        if not words:
            continue
        name, sep, value = words[0].partition("=")
        if len(words) != 1 or not sep or not name.isidentifier():
            raise InputError(f"--env-file line {number} is not NAME=value")
        values[name] = value
    return values


def from_process(env: Mapping[str, str], env_file: Path | None = None,
                 source: str = "the process environment") -> Inputs:
    """``source``: where ``env`` comes from, for the report's first line (the running local stack's settings
    filled in, or that none runs: :meth:`tools.localstack.ResolvedEnv.describe`)."""
    from tools.deployment import function_folders  # noqa: PLC0415 - PyYAML, as in from_s_yaml

    merged = dict(env)
    if env_file is not None:
        merged.update(read_env_file(env_file))
        source += f" with {env_file}"
    return Inputs(
        source=source,
        env=merged,
        functions={name: merged for name in function_folders()},
        fc_region=_fc_region_of(merged),
    )


def _fc_region_of(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The functions' region as far as their environment tells: ``KYC_REGION`` when exported, else
    ``KYC_OSS_REGION``, which s.yaml sets to the functions' region (``vars.region``)."""
    for name in ("KYC_REGION", "KYC_OSS_REGION"):
        value = env_str(env, name)
        if value:
            return value, name
    return None


def read_outputs(path: Path | None, pairs: Sequence[str]) -> dict[str, str]:
    """Stack outputs by key: a JSON file (``{"BucketName": "..."}``, or ROS GetStack's ``{"Outputs": [{"OutputKey":
    ..., "OutputValue": ...}]}``, or that list alone), then ``KEY=VALUE`` pairs on top. The GetStack shape is
    unverified (the ROS API page we could read stops before its response table); the flat object always works."""
    outputs: dict[str, str] = {}
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"--stack-outputs {str(path)!r} cannot be read ({type(exc).__name__})") from None
        try:
            data: Any = jsonutil.loads(raw)
        except jsonutil.JSONDecodeError:
            raise InputError(f"--stack-outputs {str(path)!r} is not JSON") from None
        if isinstance(data, dict) and isinstance(data.get("Outputs"), list):
            data = data["Outputs"]
        if isinstance(data, list):
            for item in data:
                if not (isinstance(item, dict) and isinstance(item.get("OutputKey"), str)):
                    raise InputError("--stack-outputs: every item of Outputs needs OutputKey and OutputValue")
                outputs[item["OutputKey"]] = str(item.get("OutputValue", ""))
        elif isinstance(data, dict):
            outputs.update({str(k): str(v) for k, v in data.items() if not isinstance(v, (dict, list))})
        else:
            raise InputError("--stack-outputs must hold an object of outputs or ROS's Outputs list")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("--stack-output must be KEY=VALUE")
        outputs[key.strip()] = value
    return outputs


def from_s_yaml(env: Mapping[str, str], outputs: Mapping[str, str], s_yaml: Path | None = None) -> Inputs:
    from tools import deployment  # noqa: PLC0415 - PyYAML only for this mode

    path = s_yaml or deployment.S_YAML
    try:
        resolved = deployment.function_environments(env, outputs, path)
        fc_region = deployment.default_region(env, path)
    except deployment.DeploymentError as exc:
        raise InputError(str(exc)) from None
    credentials = {name: env[name] for name in CREDENTIAL_VARIABLES if env.get(name)}
    functions = {name: {**variables, **credentials} for name, variables in resolved.functions.items()}
    notes: list[Finding] = []
    union: dict[str, str] = {}
    disagree: set[str] = set()
    for variables in functions.values():
        for name, value in variables.items():
            if name in union and union[name] != value:
                disagree.add(name)
            union.setdefault(name, value)
    if disagree:
        notes.append(problem(
            "environment",
            f"s.yaml gives the functions different values of {', '.join(sorted(disagree))}",
            "give every function the same value (the doctor checks the first one it read)",
        ))
    if resolved.missing_outputs:
        missing = ", ".join(f"{key} ({name})" for name, key in sorted(resolved.missing_outputs.items()))
        notes.append(problem(
            "environment",
            f"no value for the stack outputs {missing}, so these variables are unknown here",
            "pass the stack's outputs: --stack-outputs FILE (ROS console → stack → Outputs, or "
            "`aliyun ros GetStack`), --stack-output KEY=VALUE, or export the variables themselves",
        ))
    return Inputs(
        source=f"{path.name} resolved with the exported variables (credentials: yours, not the functions' role)",
        env=union,
        functions=functions,
        fc_region=(fc_region, "s.yaml vars.region") if fc_region else None,
        from_s_yaml=True,
        notes=tuple(notes),
        missing_outputs=dict(resolved.missing_outputs),
    )
