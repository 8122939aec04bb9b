"""The configuration is documented once and truthfully: README's table, docs/deploy.md's table, s.yaml and the code.

The code's defaults are never copied here: each documented default is fed to the code's own settings loaders and
must give the same settings as leaving the variable unset ("the documented default is the one applied"), a
`required` variable must stop the loader naming it, and the set of variables the loaders read (recorded) and the code
mentions must be exactly the documented set. s.yaml's values are read from s.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import products
from shared.cloudauth import CloudAuthSettings
from shared.config import ConfigError
from shared.fetch_settings import FetchSettings
from shared.log import level_from_env
from shared.notifications import WebhookSettings
from shared.storage import StorageSettings
from shared.sweeper import SweepSettings
from shared.verifications import FrontendSettings

ROOT = Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"\b(?:KYC|CLOUDAUTH|ALIBABA_CLOUD)_[A-Z0-9_]+\b")
QUOTED_VARIABLE = re.compile(r"[\"']((?:KYC|CLOUDAUTH|ALIBABA_CLOUD)_[A-Z0-9_]+)[\"']")
ENV = re.compile(r"^\$\{env\('(?P<name>[A-Z0-9_]+)'(?:, '(?P<default>[^']*)')?\)\}$")
ENV_ANYWHERE = re.compile(r"\$\{env\('(?P<name>[A-Z0-9_]+)'(?:, '(?P<default>[^']*)')?\)\}")
VARS = re.compile(r"^\$\{vars\.(?P<name>[A-Za-z0-9_]+)\}$")
VPC_MARK = re.compile(r"^( *)#vpc ", re.MULTILINE)

#: Every settings loader of the deployed code, each called with one environment mapping.
LOADERS: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "CloudAuthSettings": CloudAuthSettings.from_env,
    "FrontendSettings": FrontendSettings.from_env,
    "FetchSettings": FetchSettings.from_env,
    "WebhookSettings": WebhookSettings.from_env,
    "SweepSettings": SweepSettings.from_env,
    "StorageSettings": StorageSettings.from_env,
    "log level": level_from_env,
}
#: Minimal valid environments under which every loader succeeds: values for what is required, nothing else.
LOCAL = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "ak",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk",
    "KYC_PUBLIC_URL": "https://kyc.example.com",
    "KYC_JWT_SECRET": "j" * 32,
    "KYC_USER_ID_PEPPER": "p" * 16,
    "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
}
ALIYUN = {
    **LOCAL,
    "KYC_BACKEND": "aliyun",
    "KYC_MNS_ENDPOINT": "https://1.mns.cn-hongkong.aliyuncs.com",
    "KYC_TABLESTORE_ENDPOINT": "https://i.cn-hongkong.ots.aliyuncs.com",
    "KYC_TABLESTORE_INSTANCE": "i",
    "KYC_OSS_REGION": "cn-hongkong",
    "KYC_OSS_BUCKET": "b",
}
BASES = {"local": LOCAL, "aliyun": ALIYUN}


class RecordingEnv(dict[str, str]):
    """An environment that remembers every name the code looked up."""

    def __init__(self, values: Mapping[str, str], seen: set[str]) -> None:
        super().__init__(values)
        self.seen = seen

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.seen.add(key)
        return super().__contains__(key)


def load_all(env: Mapping[str, str], seen: set[str] | None = None) -> dict[str, Any]:
    """Loader name -> its settings, or the ConfigError it raised."""
    results: dict[str, Any] = {}
    for name, loader in LOADERS.items():
        try:
            results[name] = loader(RecordingEnv(env, set() if seen is None else seen))
        except ConfigError as exc:
            results[name] = exc
    return results


# --- reading the documents ---------------------------------------------------------------------------------


def markdown_table(path: Path, first_columns: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The table whose header starts with ``first_columns``: variable -> {column: cell}."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            if rows:
                break
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            if tuple(cells[: len(first_columns)]) == first_columns:
                header = cells
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        variable = cells[0].strip("`")
        assert variable not in rows, f"{path.name}: {variable} is listed twice"
        rows[variable] = dict(zip(header, cells, strict=True))
    assert rows, f"{path.name}: no table starting with {first_columns}"
    return rows


@cache
def readme() -> dict[str, dict[str, str]]:
    return markdown_table(ROOT / "README.md", ("variable", "used by", "code default", "s.yaml value"))


@cache
def deploy_doc() -> dict[str, dict[str, str]]:
    return markdown_table(ROOT / "docs" / "deploy.md", ("variable", "s.yaml default", "code default"))


def head(cell: str) -> str:
    """A cell's value: the part before any parenthesised explanation."""
    return cell.split(" (", 1)[0].strip()


def literal(cell: str) -> str | None:
    """The value of a cell written as `` `value` `` (before any explanation), else None."""
    match = re.fullmatch(r"`([^`]*)`", head(cell))
    return match.group(1) if match else None


@cache
def s_yaml() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@cache
def s_yaml_vpc_text() -> str:
    return VPC_MARK.sub(r"\1", (ROOT / "s.yaml").read_text(encoding="utf-8"))


def function_environments() -> list[dict[str, str]]:
    return [r["props"].get("environmentVariables", {}) for r in s_yaml()["resources"].values()
            if r.get("component") == "fc3"]


def describe_s_yaml_value(variable: str, raw: str) -> str:
    """How README's "s.yaml value" column writes what s.yaml sets."""
    vars_ = VARS.match(raw)
    if vars_:
        raw = s_yaml()["vars"][vars_["name"]]
    env = ENV.match(raw)
    if env:
        if env["name"] != variable:
            return f"from {env['name']}"
        if env["default"] is None:
            return "your shell"
        return f"`{env['default']}`" if env["default"] else "empty"
    if raw.startswith("${resources."):
        return "stack output"
    assert "${" not in raw, f"{variable}: s.yaml expression not understood: {raw}"
    return f"`{raw}`"


def s_yaml_defaults() -> Iterator[tuple[str, str | None]]:
    """Every ${env('NAME'[, 'default'])} s.yaml reads (the #vpc variant included; comments otherwise skipped)."""
    for line in s_yaml_vpc_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in ENV_ANYWHERE.finditer(line):
            yield match["name"], match["default"]


# --- README: one row per variable the code reads -----------------------------------------------------------


def test_readme_documents_exactly_the_variables_the_code_reads() -> None:
    seen: set[str] = set()
    for base in BASES.values():
        load_all(base, seen)
    mentioned = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        mentioned |= set(QUOTED_VARIABLE.findall(path.read_text(encoding="utf-8")))
    mentioned -= set(products.PRODUCTS)  # product codes such as "KYC_GLOBAL" look like variables
    read = {name for name in seen if VARIABLE.fullmatch(name)}
    assert read, "the loaders read nothing: the recording is broken"
    documented = set(readme())
    assert not sorted((read | mentioned) - documented), "read by the code but not in README's table"
    assert not sorted(documented - (read | mentioned)), "in README's table but never read by the code"


@pytest.mark.parametrize("variable", sorted(readme()))
def test_readme_code_default_is_the_default_the_code_applies(variable: str) -> None:
    cell = readme()[variable]["code default"]
    value = literal(cell)
    if value is not None:
        for base_name, base in BASES.items():
            unset = {k: v for k, v in base.items() if k != variable}
            assert load_all({**unset, variable: value}) == load_all(unset), (
                f"{variable}={value!r} ({base_name}) does not give what leaving it unset gives: README is wrong")
    elif head(cell) == "required":
        refused = []
        for base in BASES.values():
            unset = {k: v for k, v in base.items() if k != variable}
            refused += [r for r in load_all(unset).values() if isinstance(r, ConfigError) and r.variable == variable]
        assert refused, f"{variable} is documented as required but nothing refuses to start without it"
    else:
        assert head(cell) == "unset", f"{variable}: code default must be `value`, required or unset, not {cell!r}"
        for base in BASES.values():
            unset = {k: v for k, v in base.items() if k != variable}
            assert not [r for r in load_all(unset).values() if isinstance(r, ConfigError)], (
                f"{variable} is documented as optional but a loader refuses to start without it")


@pytest.mark.parametrize("variable", sorted(readme()))
def test_readme_s_yaml_value_is_what_s_yaml_sets(variable: str) -> None:
    values = {describe_s_yaml_value(variable, env[variable]) for env in function_environments() if variable in env}
    assert len(values) <= 1, f"s.yaml sets {variable} differently in different functions: {values}"
    expected = values.pop() if values else "not set"
    assert head(readme()[variable]["s.yaml value"]) == expected


def test_a_deployment_choice_differing_from_the_code_default_shows_both() -> None:
    """KYC_DELETE_VENDOR_COPY: the deployment erases the vendor's copy, the code alone does not."""
    row = readme()["KYC_DELETE_VENDOR_COPY"]
    assert (literal(row["code default"]), literal(row["s.yaml value"])) == ("N", "Y")


# --- docs/deploy.md: one row per variable s.yaml reads from the operator's shell -----------------------------


def test_deploy_doc_lists_every_variable_s_yaml_reads_with_its_default() -> None:
    defaults: dict[str, set[str | None]] = {}
    for name, default in s_yaml_defaults():
        defaults.setdefault(name, set()).add(default)
    assert "KYC_VPC_ID" in defaults, "the #vpc variant was not read"
    assert set(deploy_doc()) == set(defaults)
    for name, found in defaults.items():
        assert len(found) == 1, f"s.yaml gives {name} different defaults: {found}"
        (default,) = found
        expected = "required" if default is None else (f"`{default}`" if default else "empty")
        assert head(deploy_doc()[name]["s.yaml default"]) == expected, name


@pytest.mark.parametrize("variable", sorted(deploy_doc()))
def test_deploy_doc_code_default_agrees_with_readme(variable: str) -> None:
    cell = head(deploy_doc()[variable]["code default"])
    if variable in readme():
        assert cell == head(readme()[variable]["code default"])
    else:
        assert cell == "deploy only", f"{variable} is read by the code? then README's table must list it"


def test_retention_has_one_meaning_at_deploy_time_and_at_run_time() -> None:
    """0 keeps forever in the stack (template.yml) and in the sweeper; negative values are refused by both."""
    template = yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))
    assert template["Parameters"]["RetentionDays"]["MinValue"] == 0
    assert "`0` keeps them forever" in deploy_doc()["KYC_RETENTION_DAYS"]["what it sets"]
    assert "`0` keeps them forever" in readme()["KYC_RETENTION_DAYS"]["meaning"]
    with pytest.raises(ConfigError):
        SweepSettings.from_env({"KYC_RETENTION_DAYS": "-1"})


def test_deploy_md_names_every_execution_role_template_yml_creates() -> None:
    import yaml

    template = yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))
    roles = sorted(res["Properties"]["RoleName"]["Fn::Sub"].replace("${NamePrefix}", "kyc")
                   for res in template["Resources"].values() if res.get("Type") == "ALIYUN::RAM::Role")  # fmt: skip
    row = next(line for line in (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| `template.yml` |"))  # fmt: skip
    assert len(roles) == 4 and [role for role in roles if role not in row] == []


def test_deploy_md_never_asks_to_export_the_build_folder_before_s_deploy() -> None:
    """s.yaml uploads ./build/<function>: a KYC_BUILD_DIR exported before `s deploy` would build elsewhere and ship
    the old build."""
    import re

    knobs = re.search(r"Knobs \(export them before `s deploy`[^)]*\): (.*?)\.", (ROOT / "docs" / "deploy.md")
                      .read_text(encoding="utf-8"), re.DOTALL)  # fmt: skip
    assert knobs is not None and "KYC_BUILD_DIR" not in knobs.group(1)
