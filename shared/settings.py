"""Product settings read from the environment, one small dataclass per concern.

Each handler reads only the settings its path needs, in ``initialize``, so a missing or invalid variable fails
the instance start with one message naming the variable (:class:`shared.config.ConfigError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared import jsonutil
from shared.config import (
    ConfigError,
    Env,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_required,
    env_schedule,
    env_str,
    environ,
)
from shared.webhooks import InvalidWebhookSecret, WebhookSecret

DEFAULT_RECHECK_SCHEDULE = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
DEFAULT_WEBHOOK_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(name, "must be an absolute http(s) URL")
    return value


def _is_aliyun(env: Env) -> bool:
    return (env_str(env, "KYC_BACKEND", "local") or "local") == "aliyun"


@dataclass(frozen=True)
class FrontendSettings:
    """What the initializer needs to serve the merchant's web frontend."""

    public_url: str
    jwt_secret: str = field(repr=False)
    user_id_pepper: str = field(repr=False)
    return_url_allowlist: tuple[str, ...]
    cors_origins: tuple[str, ...]
    rate_limit_per_hour: int
    max_body_bytes: int
    max_meta_info_bytes: int
    jwt_leeway_seconds: int
    jwt_previous_secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, env: Env | None = None) -> FrontendSettings:
        env = environ() if env is None else env
        public_url = _http_url("KYC_PUBLIC_URL", env_required(env, "KYC_PUBLIC_URL")).rstrip("/")
        if _is_aliyun(env) and not public_url.startswith("https://"):
            raise ConfigError("KYC_PUBLIC_URL", "must be https with the aliyun backend (callbacks are https)")
        jwt_secret = env_required(env, "KYC_JWT_SECRET")
        if len(jwt_secret) < 32:
            raise ConfigError("KYC_JWT_SECRET", "must be at least 32 characters")
        # While rotating, tokens signed with the previous secret(s) stay valid until they expire.
        previous = env_list(env, "KYC_JWT_PREVIOUS_SECRETS")
        if any(len(s) < 32 for s in previous):
            raise ConfigError("KYC_JWT_PREVIOUS_SECRETS", "must list secrets of at least 32 characters")
        pepper = env_required(env, "KYC_USER_ID_PEPPER")
        if len(pepper) < 16:
            raise ConfigError("KYC_USER_ID_PEPPER", "must be at least 16 characters")
        allowlist = env_list(env, "KYC_RETURN_URL_ALLOWLIST")
        if not allowlist:
            raise ConfigError("KYC_RETURN_URL_ALLOWLIST", "is required: the URL prefixes browsers may return to")
        for prefix in allowlist:
            _http_url("KYC_RETURN_URL_ALLOWLIST", prefix)
        return cls(
            public_url=public_url,
            jwt_secret=jwt_secret,
            jwt_previous_secrets=previous,
            user_id_pepper=pepper,
            return_url_allowlist=allowlist,
            cors_origins=env_list(env, "KYC_CORS_ORIGINS"),
            rate_limit_per_hour=env_int(env, "KYC_RATE_LIMIT_PER_HOUR", 10, minimum=0),
            max_body_bytes=env_int(env, "KYC_MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            max_meta_info_bytes=env_int(env, "KYC_MAX_META_INFO_BYTES", 16 * 1024, minimum=256),
            jwt_leeway_seconds=env_int(env, "KYC_JWT_LEEWAY", 30, minimum=0, maximum=300),
        )


@dataclass(frozen=True)
class FetchSettings:
    """What the result fetcher (and the sweeper) need to fetch and keep results."""

    recheck_schedule: tuple[float, ...]
    delete_vendor_copy: bool

    @classmethod
    def from_env(cls, env: Env | None = None) -> FetchSettings:
        env = environ() if env is None else env
        return cls(
            recheck_schedule=env_schedule(env, "KYC_RECHECK_SCHEDULE", DEFAULT_RECHECK_SCHEDULE),
            delete_vendor_copy=env_bool(env, "KYC_DELETE_VENDOR_COPY", False),
        )


@dataclass(frozen=True)
class Subscriber:
    url: str
    secret: str = field(repr=False)
    include_pii: bool = False
    previous_secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def signing_secrets(self) -> tuple[str, ...]:
        """Every secret to sign with: during a rotation receivers may still know only an older one."""
        return (self.secret, *self.previous_secrets)


@dataclass(frozen=True)
class WebhookSettings:
    subscribers: tuple[Subscriber, ...]
    retry_schedule: tuple[float, ...]
    allow_private_targets: bool
    require_https: bool
    timeout_seconds: float

    @classmethod
    def from_env(cls, env: Env | None = None) -> WebhookSettings:
        env = environ() if env is None else env
        aliyun = _is_aliyun(env)
        require_https = aliyun or env_bool(env, "KYC_WEBHOOK_REQUIRE_HTTPS", False)
        return cls(
            subscribers=_parse_subscribers(env_str(env, "KYC_WEBHOOKS"), require_https),
            retry_schedule=env_schedule(env, "KYC_WEBHOOK_RETRY_SCHEDULE", DEFAULT_WEBHOOK_RETRY_SCHEDULE),
            allow_private_targets=env_bool(env, "KYC_WEBHOOK_ALLOW_PRIVATE", False),
            require_https=require_https,
            timeout_seconds=env_float(env, "KYC_WEBHOOK_TIMEOUT", 10.0, minimum=0.1),
        )


def _parse_subscribers(raw: str | None, require_https: bool) -> tuple[Subscriber, ...]:
    name = "KYC_WEBHOOKS"
    if raw is None:
        return ()
    try:
        items = jsonutil.loads(raw)
    except jsonutil.JSONDecodeError:
        raise ConfigError(name, "must be a JSON list of {url, secret, includePii}") from None
    if not isinstance(items, list):
        raise ConfigError(name, "must be a JSON list of {url, secret, includePii}")
    subscribers = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ConfigError(name, f"item {index} needs a string 'url'")
        secrets = item.get("secret")
        if isinstance(secrets, str):
            secrets = [secrets]
        if not isinstance(secrets, list) or not secrets or not all(isinstance(s, str) for s in secrets):
            raise ConfigError(name, f"item {index} needs 'secret': a string, or a list (newest first) while rotating")
        url = _http_url(name, item["url"])
        if require_https and not url.startswith("https://"):
            raise ConfigError(name, f"item {index}: webhook URLs must be https with the aliyun backend")
        for secret in secrets:
            try:
                WebhookSecret.parse(secret)  # the same check signing does: fail at start, not at delivery
            except InvalidWebhookSecret:
                raise ConfigError(name, f"item {index}: secret must be whsec_<base64 of 24-64 bytes>") from None
        include_pii = item.get("includePii", False)
        if not isinstance(include_pii, bool):
            raise ConfigError(name, f"item {index}: includePii must be true or false")
        subscribers.append(
            Subscriber(url=url, secret=secrets[0], include_pii=include_pii, previous_secrets=tuple(secrets[1:]))
        )
    urls = [s.url for s in subscribers]
    if len(set(urls)) != len(urls):
        raise ConfigError(name, "lists the same URL twice")
    return tuple(subscribers)


@dataclass(frozen=True)
class SweepSettings:
    sweep_after_seconds: float
    abandon_after_seconds: float
    retention_days: int
    batch_size: int

    @classmethod
    def from_env(cls, env: Env | None = None) -> SweepSettings:
        env = environ() if env is None else env
        return cls(
            sweep_after_seconds=env_float(env, "KYC_SWEEP_AFTER", 900.0),
            abandon_after_seconds=env_float(env, "KYC_ABANDON_AFTER", 86400.0),
            retention_days=env_int(env, "KYC_RETENTION_DAYS", 0, minimum=0),
            batch_size=env_int(env, "KYC_SWEEP_BATCH", 200, minimum=1, maximum=10000),
        )
