"""Handler glue for each FC function; functions/<name>/index.py only wires these to FC."""

from __future__ import annotations

from collections.abc import Mapping

from shared.config import ConfigError, environ
from shared.log import register_secret
from shared.settings import WebhookSettings

SECRET_VARIABLES = (
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "KYC_JWT_SECRET",
    "KYC_USER_ID_PEPPER",
)


def register_config_secrets(env: Mapping[str, str] | None = None) -> None:
    """Scrub every secret this instance was configured with from its logs, whatever code path logs them."""
    env = environ() if env is None else env
    for name in SECRET_VARIABLES:
        register_secret(env.get(name))
    for previous in (env.get("KYC_JWT_PREVIOUS_SECRETS") or "").split(","):
        register_secret(previous.strip())
    try:
        subscribers = WebhookSettings.from_env(env).subscribers
    except ConfigError:  # reported by the function that uses these settings
        return
    for subscriber in subscribers:
        for secret in subscriber.signing_secrets:
            register_secret(secret)
