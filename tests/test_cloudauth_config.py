"""CloudAuthSettings.from_env."""

from __future__ import annotations

import pytest

from shared.config import CloudAuthSettings, ConfigError

CREDS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk-secret-value"}


def test_defaults_use_the_hong_kong_endpoint_and_documented_timeouts() -> None:
    s = CloudAuthSettings.from_env(CREDS)
    assert s.endpoint == "https://cloudauth-intl.cn-hongkong.aliyuncs.com"
    assert (s.connect_timeout, s.read_timeout, s.max_attempts) == (5.0, 10.0, 3)
    assert (s.signature_version, s.product_code, s.allow_undocumented_doc_types) == ("v3", "eKYC", False)
    assert s.security_token is None


def test_region_selects_the_endpoint() -> None:
    s = CloudAuthSettings.from_env({**CREDS, "CLOUDAUTH_REGION": "ap-southeast-1"})
    assert s.endpoint == "https://cloudauth-intl.ap-southeast-1.aliyuncs.com"


def test_explicit_endpoint_wins_and_is_normalised() -> None:
    s = CloudAuthSettings.from_env({**CREDS, "CLOUDAUTH_ENDPOINT": "http://127.0.0.1:9100/", "CLOUDAUTH_REGION": "x"})
    assert s.endpoint == "http://127.0.0.1:9100"


@pytest.mark.parametrize("value", ["ftp://host", "127.0.0.1:9100", "http://", "https://h/path", "http://u:p@h"])
def test_endpoint_must_be_an_http_base_url(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        CloudAuthSettings.from_env({**CREDS, "CLOUDAUTH_ENDPOINT": value})
    assert info.value.variable == "CLOUDAUTH_ENDPOINT"


@pytest.mark.parametrize("missing", sorted(CREDS))
def test_missing_credentials_name_the_variable(missing: str) -> None:
    env = {k: v for k, v in CREDS.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        CloudAuthSettings.from_env(env)
    assert info.value.variable == missing and missing in str(info.value)


def test_all_variables_are_read() -> None:
    s = CloudAuthSettings.from_env(
        {
            **CREDS,
            "ALIBABA_CLOUD_SECURITY_TOKEN": "sts",
            "CLOUDAUTH_CONNECT_TIMEOUT": "1.5",
            "CLOUDAUTH_READ_TIMEOUT": "7",
            "CLOUDAUTH_MAX_ATTEMPTS": "5",
            "CLOUDAUTH_SIGNATURE": "V1",
            "CLOUDAUTH_PRODUCT_CODE": "KYC_GLOBAL",
            "CLOUDAUTH_ALLOW_UNDOCUMENTED_DOC_TYPES": "Y",
        }
    )
    assert s.security_token == "sts"
    assert (s.connect_timeout, s.read_timeout, s.max_attempts) == (1.5, 7.0, 5)
    assert (s.signature_version, s.product_code, s.allow_undocumented_doc_types) == ("v1", "KYC_GLOBAL", True)


@pytest.mark.parametrize(
    ("name", "value"),
    [("CLOUDAUTH_SIGNATURE", "v2"), ("CLOUDAUTH_READ_TIMEOUT", "0"), ("CLOUDAUTH_CONNECT_TIMEOUT", "abc"),
     ("CLOUDAUTH_MAX_ATTEMPTS", "99"), ("CLOUDAUTH_PRODUCT_CODE", "e KYC")],
)
def test_invalid_values_name_the_variable_without_echoing(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        CloudAuthSettings.from_env({**CREDS, name: value})
    assert info.value.variable == name and value not in str(info.value).split(name, 1)[1]


def test_repr_hides_secrets() -> None:
    s = CloudAuthSettings.from_env({**CREDS, "ALIBABA_CLOUD_SECURITY_TOKEN": "sts-token-xyz"})
    assert "sk-secret-value" not in repr(s) and "sts-token-xyz" not in repr(s)
