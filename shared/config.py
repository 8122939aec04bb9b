"""Reading configuration from environment variables, the same names locally and on FC.

Every reader raises :class:`ConfigError` naming the variable, so a bad deployment fails at instance start
(``initialize``) with one clear message, never at the first customer request. Values are never echoed:
some of them are secrets, and the settings that read a secret register it with the log scrubber
(:func:`shared.log.register_secret`) as they read it.

The settings classes live next to what they configure: ``CloudAuthSettings`` (:mod:`shared.cloudauth.settings`),
``StorageSettings`` (:mod:`shared.storage.settings`), ``FrontendSettings`` (:mod:`shared.verifications`),
``FetchSettings`` (:mod:`shared.fetch_settings`), ``WebhookSettings`` (:mod:`shared.notifications`), ``SweepSettings``
(:mod:`shared.sweeper`); :mod:`shared.wiring` builds the services from them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from shared import jsonutil
from shared.urls import UnsafeUrl, check_url

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

Env = Mapping[str, str]
#: The longest delay a queue message may carry: MNS SendMessage's DelaySeconds, "取值范围:0~604800,单位为秒"
#: ("SendMessage", help.aliyun.com/document_detail/35134.html); the local queue keeps the same limit.
MAX_QUEUE_DELAY_SECONDS = 604800
#: How long a queue message lives, counted from its sending, its delay included: every queue's
#: MessageRetentionPeriod in template.yml (7 days, the most MNS allows). MNS deletes a message that long "从发送到该队列
#: 开始" (from its sending), "不论消息是否被取出过" (whether or not it was received) ("ALIYUN::MNS::Queue",
#: help.aliyun.com/document_detail/116238.htm): a message sent with the longest delay dies as it becomes visible.
QUEUE_RETENTION_SECONDS = 604800
#: What a delayed message of ours keeps of its life once it becomes visible: a day for its trigger to receive it,
#: fail, and be retried (review bg).
QUEUE_CONSUME_WINDOW_SECONDS = 86400
#: The longest delay a message of ours is sent with.
MAX_USEFUL_DELAY_SECONDS = QUEUE_RETENTION_SECONDS - QUEUE_CONSUME_WINDOW_SECONDS
#: The longest step of a retry schedule (KYC_RECHECK_SCHEDULE, KYC_WEBHOOK_RETRY_SCHEDULE): at the top of the
#: notifier's jitter (+20 %, shared.webhook_retries.JITTER) it is still a useful delay. Five days.
MAX_SCHEDULE_STEP_SECONDS = 432000


class ConfigError(Exception):
    """A configuration variable is missing or invalid. ``variable`` names it; the message never shows its value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"configuration error: {variable} {problem}")
        self.variable = variable


def environ() -> Env:
    return os.environ


def env_str(env: Env, name: str, default: str | None = None, *, required: bool = False) -> str | None:
    """The variable's value with surrounding spaces removed; empty counts as unset."""
    value = (env.get(name) or "").strip()
    if value:
        return value
    if required and default is None:
        raise ConfigError(name, "is required but not set")
    return default


def env_required(env: Env, name: str) -> str:
    value = env_str(env, name, required=True)
    assert value is not None
    return value


def env_credential(env: Env, name: str, *, required: bool = False) -> str | None:
    """An access key's id or secret, or an STS token (``ALIBABA_CLOUD_*``): printable ASCII without spaces, what a
    signature and an HTTP header carry. A line break or a pasted character inside is refused here, naming the
    variable only: further on it would fail in a header, with the value quoted in the error."""
    value = env_str(env, name, required=required)
    if value is not None and not (value.isascii() and value.isprintable() and " " not in value):
        raise ConfigError(name, "must be printable ASCII without spaces (a line break or a pasted character in it?)")
    return value


def env_required_credential(env: Env, name: str) -> str:
    value = env_credential(env, name, required=True)
    assert value is not None
    return value


def env_int(env: Env, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = env_str(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, "must be a whole number") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(name, _range(minimum, maximum))
    return value


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is None:
        return f"must be at most {maximum}"
    if maximum is None:
        return f"must be at least {minimum}"
    return f"must be between {minimum} and {maximum}"


def env_float(env: Env, name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env_str(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, "must be a number") from None
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(name, f"must be a finite number >= {minimum}")
    return value


def env_bool(env: Env, name: str, default: bool) -> bool:
    raw = env_str(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "y", "on"}:
        return True
    if lowered in {"0", "false", "no", "n", "off"}:
        return False
    raise ConfigError(name, "must be one of Y/N, true/false, 1/0")


def env_list(env: Env, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list; blank items are dropped."""
    raw = env_str(env, name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def env_schedule(env: Env, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """A comma-separated list of delays in seconds, e.g. ``5,300,1800``."""
    items = env_list(env, name)
    if not items:
        return default
    try:
        delays = tuple(float(item) for item in items)
    except ValueError:
        raise ConfigError(name, "must be comma-separated numbers of seconds") from None
    if any(math.isnan(d) or d < 0 for d in delays):
        raise ConfigError(name, "must not contain negative delays")
    if any(d > MAX_SCHEDULE_STEP_SECONDS for d in delays):
        raise ConfigError(name, f"delays must be at most {MAX_SCHEDULE_STEP_SECONDS} seconds (5 days: a message lives "
                                "7 days from its sending, and must be visible for a day of them)")
    return delays


def json_setting(name: str, text: str, kind: type, shape: str) -> Any:
    """The JSON value of setting ``name``, of ``kind`` (``dict``, ``list``); ``ConfigError`` saying it must be
    ``shape`` otherwise (never echoing the value: a setting may hold secrets)."""
    try:
        value = jsonutil.loads(text)
    except jsonutil.JSONDecodeError:
        raise ConfigError(name, f"must be {shape}") from None
    if not isinstance(value, kind):
        raise ConfigError(name, f"must be {shape}")
    return value


def http_url(name: str, value: str, *, base: bool = False) -> str:
    """``value`` when it is an absolute http(s) URL that :func:`shared.urls.check_url` accepts (checked on the raw
    string: no control, whitespace, invisible or backslash character anywhere) and carries no credentials;
    with ``base``, also no query or fragment (a URL others are appended to). ``ConfigError`` naming ``name``
    otherwise; the message never repeats the value."""
    try:
        parts = check_url(value)
    except UnsafeUrl as exc:
        raise ConfigError(name, f"must be an absolute http(s) URL ({exc})") from None
    if "@" in parts.netloc:
        raise ConfigError(name, "must not carry credentials (user:password@) in the URL")
    if base and ("?" in value or "#" in value):
        raise ConfigError(name, "must be a base URL, without query or fragment")
    return value


def backend_name(env: Env) -> str:
    """``KYC_BACKEND`` as every reader takes it: trimmed, in lower case, ``local`` when unset (whether the name is
    one of ``local``/``aliyun`` is :class:`shared.storage.StorageSettings`' to check)."""
    return (env_str(env, "KYC_BACKEND", "local") or "local").lower()


def is_aliyun_backend(env: Env) -> bool:
    """``KYC_BACKEND=aliyun``: deployed on Alibaba Cloud, where callbacks and webhooks must be https."""
    return backend_name(env) == "aliyun"
