"""The tools' one reading of the Alibaba Cloud credential variables (``tools/credentials.py``)."""

from __future__ import annotations

from pathlib import Path

from tools.credentials import SANDBOX_KEY, TOKEN_VARIABLE, VARIABLES, AccessKey, key_from_env
from tools.sandbox import SandboxConfig

ROOT = Path(__file__).resolve().parent.parent


def test_the_variables_are_the_ones_the_functions_read() -> None:
    assert VARIABLES == ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                         "ALIBABA_CLOUD_SECURITY_TOKEN")


def test_a_key_needs_both_the_id_and_the_secret() -> None:
    assert key_from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "AK"}) is None
    assert key_from_env({"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "SK"}) is None
    assert key_from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "AK", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}) is None


def test_the_token_is_optional_and_an_empty_one_is_none() -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "AK", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "SK"}
    assert key_from_env(env) == AccessKey("AK", "SK")
    assert key_from_env({**env, TOKEN_VARIABLE: ""}) == AccessKey("AK", "SK")
    assert key_from_env({**env, TOKEN_VARIABLE: "tok"}) == AccessKey("AK", "SK", "tok")


def test_a_key_written_to_an_environment_reads_back_as_itself() -> None:
    for key in (AccessKey("AK", "SK"), AccessKey("AK", "SK", "tok")):
        assert key_from_env(key.environment()) == key
    assert TOKEN_VARIABLE not in AccessKey("AK", "SK").environment()


def test_an_empty_token_is_not_handed_on() -> None:
    assert TOKEN_VARIABLE not in AccessKey("AK", "SK", "").environment()


def test_a_long_term_key_accepts_requests_with_or_without_a_token() -> None:
    assert AccessKey("AK", "SK").accepts_token(None)
    assert AccessKey("AK", "SK").accepts_token("anything")


def test_an_sts_key_accepts_only_its_own_token() -> None:
    key = AccessKey("AK", "SK", "tok")
    assert key.accepts_token("tok")
    assert not key.accepts_token(None)
    assert not key.accepts_token("other")


def test_the_secret_and_token_are_not_in_the_repr() -> None:
    assert "SK" not in repr(AccessKey("AK", "SK", "tok")) and "tok" not in repr(AccessKey("AK", "SK", "tok"))


def test_the_sandbox_accepts_the_sandbox_key_by_default() -> None:
    config = SandboxConfig()
    assert (config.access_key_id, config.access_key_secret) == (SANDBOX_KEY.access_key_id,
                                                                  SANDBOX_KEY.access_key_secret)


def test_the_sandbox_key_is_the_one_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"**`{SANDBOX_KEY.access_key_id}`** / **`{SANDBOX_KEY.access_key_secret}`**" in readme
