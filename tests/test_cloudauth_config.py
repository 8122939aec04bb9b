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


# --- the VPC endpoint ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["cn-hongkong", "ap-southeast-1", "ap-southeast-5", "ap-southeast-3"])
def test_vpc_switch_selects_the_vpc_endpoint_of_the_region_as_the_official_sdk_does(region: str) -> None:
    from alibabacloud_cloudauth_intl20220809.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    oracle = Client(Config(access_key_id="ak", access_key_secret="sk", region_id=region, network="vpc"))
    s = CloudAuthSettings.from_env({**CREDS, "CLOUDAUTH_REGION": region, "CLOUDAUTH_USE_VPC_ENDPOINT": "Y"})
    assert s.endpoint == f"https://{oracle._endpoint}" == f"https://cloudauth-intl-vpc.{region}.aliyuncs.com"


def test_public_endpoint_agrees_with_the_official_sdk() -> None:
    from alibabacloud_cloudauth_intl20220809.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    oracle = Client(Config(access_key_id="ak", access_key_secret="sk", region_id="cn-hongkong"))
    assert CloudAuthSettings.from_env(CREDS).endpoint == f"https://{oracle._endpoint}"


def test_vpc_switch_off_keeps_the_public_endpoint() -> None:
    s = CloudAuthSettings.from_env({**CREDS, "CLOUDAUTH_USE_VPC_ENDPOINT": "N"})
    assert s.endpoint == "https://cloudauth-intl.cn-hongkong.aliyuncs.com"


def test_vpc_switch_with_an_explicit_endpoint_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as info:
        CloudAuthSettings.from_env({**CREDS, "CLOUDAUTH_USE_VPC_ENDPOINT": "Y",
                                    "CLOUDAUTH_ENDPOINT": "https://cloudauth-intl.cn-hongkong.aliyuncs.com"})
    assert info.value.variable == "CLOUDAUTH_USE_VPC_ENDPOINT" and "CLOUDAUTH_ENDPOINT" in str(info.value)


def test_vpc_switch_must_be_yes_or_no() -> None:
    with pytest.raises(ConfigError) as info:
        CloudAuthSettings.from_env({**CREDS, "CLOUDAUTH_USE_VPC_ENDPOINT": "vpc"})
    assert info.value.variable == "CLOUDAUTH_USE_VPC_ENDPOINT"
