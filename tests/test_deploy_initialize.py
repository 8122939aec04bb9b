"""Each deployed function starts with exactly the environment s.yaml gives it (plus FC's injected credentials).

This is the executable form of "every variable the code requires is set for each function": the real
``initialize`` path (``App.from_env``) runs with the aliyun backend on the variables s.yaml declares, with
placeholders standing in for stack outputs and operator secrets. SDK clients are built but never connect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from shared.config import ConfigError
from shared.handlers.initializer import InitializerApp
from shared.handlers.notifier import NotifierApp
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.handlers.sweeper import SweeperApp
from tests.test_deploy_config import DEPLOYED, _load, fc3_functions

APPS: dict[str, Any] = {
    "initializer": InitializerApp,
    "result_fetcher": ResultFetcherApp,
    "notifier": NotifierApp,
    "sweeper": SweeperApp,
}
FC_INJECTED = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.placeholder",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "placeholder-secret-value",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "placeholder-sts-token",
}
# What an operator's secrets and the stack's outputs look like (shapes the code validates).
PLACEHOLDERS = {
    "KYC_PUBLIC_URL": "https://kyc.example.com",
    "KYC_JWT_SECRET": "j" * 48,
    "KYC_USER_ID_PEPPER": "p" * 32,
    "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
    "KYC_CORS_ORIGINS": "https://shop.example.com",
    "KYC_WEBHOOKS": '[{"url": "https://hooks.example.com/kyc", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]',
    "KYC_TABLESTORE_ENDPOINT": "https://kyc-ekyc.cn-hongkong.ots.aliyuncs.com",
    "KYC_TABLESTORE_INSTANCE": "kyc-ekyc",
    "KYC_TABLESTORE_TABLE": "kyc_transactions",
    "KYC_OSS_REGION": "cn-hongkong",
    "KYC_OSS_BUCKET": "kyc-results-bucket",
    "KYC_OSS_PREFIX": "",
    "KYC_BUCKET_VERSIONING": "false",
    "KYC_OSS_KMS_KEY_ID": "",  # the OSS-managed key (the stack output is empty)
    "KYC_MNS_ENDPOINT": "https://1234567890123456.mns.cn-hongkong.aliyuncs.com",
    "KYC_RECHECK_QUEUE": "kyc-recheck",
    "KYC_NOTIFY_QUEUE": "kyc-notify",
    "KYC_DEADLETTER_QUEUE": "kyc-deadletter",
    "CLOUDAUTH_REGION": "cn-hongkong",
    "CLOUDAUTH_PRODUCT_CODE": "eKYC",  # s.yaml's vars, with their defaults
    "CLOUDAUTH_PRODUCTS": "",
    "KYC_RETENTION_DAYS": "90",
}
ENV_WITH_DEFAULT = re.compile(r"^\$\{env\('([A-Z0-9_]+)',\s*'([^']*)'\)\}$")


def deployed_environment(function: str) -> dict[str, str]:
    declared = fc3_functions(_load("s.yaml"))[function].get("environmentVariables", {})
    env = dict(FC_INJECTED)
    for name, declared_value in declared.items():
        value = str(declared_value)
        with_default = ENV_WITH_DEFAULT.match(value)
        if with_default:
            env[name] = with_default.group(2)
        elif "${" in value:
            assert name in PLACEHOLDERS, f"no placeholder for {name} (declared as {value})"
            env[name] = PLACEHOLDERS[name]
        else:
            env[name] = value
    return env


@pytest.mark.parametrize("function", DEPLOYED)
def test_function_initializes_with_the_environment_s_yaml_declares(function: str) -> None:
    env = deployed_environment(function)
    assert env["KYC_BACKEND"] == "aliyun"
    APPS[function].from_env(env)  # raises ConfigError naming the variable if one were missing or invalid


@pytest.mark.parametrize(
    ("function", "variable"),
    [
        ("initializer", "KYC_JWT_SECRET"),
        ("initializer", "KYC_PUBLIC_URL"),
        ("initializer", "KYC_RETURN_URL_ALLOWLIST"),
        ("result_fetcher", "KYC_OSS_BUCKET"),
        ("result_fetcher", "KYC_TABLESTORE_INSTANCE"),
        ("notifier", "KYC_MNS_ENDPOINT"),
        ("sweeper", "KYC_TABLESTORE_ENDPOINT"),
    ],
)
def test_a_missing_variable_fails_the_start_naming_it(function: str, variable: str) -> None:
    env = deployed_environment(function)
    del env[variable]
    with pytest.raises(ConfigError) as info:
        APPS[function].from_env(env)
    assert info.value.variable == variable


class _ReadSettings(Mapping[str, str]):
    """An environment that records every variable the code looks up (present or not)."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@pytest.mark.parametrize("function", DEPLOYED)
def test_a_setting_s_yaml_gives_one_function_is_given_to_every_function_that_reads_it(function: str) -> None:
    """A function that reads a setting the deployment sets for another function runs with the code's default
    otherwise: the sweeper, which fetches verdicts itself, deleted no vendor copy while the result fetcher did."""
    declared = {name for fn in DEPLOYED for name in deployed_environment(fn)}
    env = _ReadSettings(deployed_environment(function))
    APPS[function].from_env(env)
    assert sorted((env.read & declared) - set(env)) == []


def test_the_deployed_sweeper_deletes_vendor_copies_as_the_deployed_result_fetcher_does() -> None:
    """The sweeper fetches the verdicts whose callback never came and retries a deletion the vendor refused."""
    fetcher = ResultFetcherApp.from_env(deployed_environment("result_fetcher")).fetcher
    sweeper = SweeperApp.from_env(deployed_environment("sweeper")).sweeper
    assert fetcher.deletes_vendor_copy, "s.yaml's default: the deployment deletes the vendor's copy"
    assert sweeper.fetcher.deletes_vendor_copy
