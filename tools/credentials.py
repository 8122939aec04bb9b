"""Alibaba Cloud credentials as the tools read and hand them on: the variables, the key, the local sandbox's key.

The functions read the same three variables (``shared/cloudauth/settings.py``, ``shared/storage/settings.py``: FC
sets them from the function's role, with an STS token); the tools read them here only, so the CLI, the local stack
and the doubles agree on what "the key in the environment" is. An empty variable counts as unset.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.config import env_credential
from shared.redaction import register_secret

KEY_ID_VARIABLE = "ALIBABA_CLOUD_ACCESS_KEY_ID"
SECRET_VARIABLE = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name
TOKEN_VARIABLE = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 - a variable name
#: Every credential variable, in the order people are told about them.
VARIABLES = (KEY_ID_VARIABLE, SECRET_VARIABLE, TOKEN_VARIABLE)


@dataclass(frozen=True)
class AccessKey:
    """An AccessKey pair; with ``security_token``, a temporary (STS) key whose requests carry that token."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def accepts_token(self, sent: str | None) -> bool:
        """What a double checks: a key without a token accepts any request; an STS key only its own token (compared
        in constant time)."""
        if self.security_token is None:
            return True
        return sent is not None and hmac.compare_digest(self.security_token.encode(), sent.encode())

    def environment(self) -> dict[str, str]:
        """The variables that hand this key to a process (no token variable for a long-term key)."""
        env = {KEY_ID_VARIABLE: self.access_key_id, SECRET_VARIABLE: self.access_key_secret}
        if self.security_token:
            env[TOKEN_VARIABLE] = self.security_token
        return env


def key_from_env(env: Mapping[str, str]) -> AccessKey | None:
    """The key ``env`` holds, ``None`` unless both the ID and the secret are set (the token is optional); each read
    as the functions read it (``env_credential``: a value with a line break inside is a ``ConfigError``)."""
    key_id, secret = env_credential(env, KEY_ID_VARIABLE), env_credential(env, SECRET_VARIABLE)
    token = register_secret(env_credential(env, TOKEN_VARIABLE))  # scrubbed from what the tools print, as logs are
    if not key_id or not secret:
        return None
    return AccessKey(key_id, register_secret(secret), token)


#: The key the local sandbox accepts unless told otherwise (``SANDBOX_ACCESS_KEY_ID``/``_SECRET``): a public test
#: key, never a real one. ``kyc invoke`` falls back to it against a local gateway.
SANDBOX_KEY = AccessKey("sandbox", "sandbox-secret")
