"""Product settings: every variable validated, errors name the variable and never echo secret values."""

from __future__ import annotations

import pytest

from shared import jsonutil
from shared.config import ConfigError
from shared.fetch_settings import DEFAULT_RECHECK_SCHEDULE, FetchSettings, vendor_may_still_keep
from shared.notifications import Subscriber, WebhookSettings
from shared.storage import StorageSettings, TransactionRecord
from shared.sweeper import SweepSettings
from shared.verifications import FrontendSettings
from shared.webhook_retries import DEFAULT_WEBHOOK_RETRY_SCHEDULE

JWT_SECRET = "j" * 40
PEPPER = "p" * 20
HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes: the Standard Webhooks minimum


def frontend_env(**overrides: str) -> dict[str, str]:
    env = {
        "KYC_PUBLIC_URL": "https://kyc.example/",
        "KYC_JWT_SECRET": JWT_SECRET,
        "KYC_USER_ID_PEPPER": PEPPER,
        "KYC_RETURN_URL_ALLOWLIST": "https://shop.example/done, https://shop.example/other",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def _error(factory: object, env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        factory.from_env(env)  # type: ignore[attr-defined]
    return info.value


# -- FrontendSettings ------------------------------------------------------------------------------------------


def test_frontend_settings_read_every_variable() -> None:
    settings = FrontendSettings.from_env(
        frontend_env(
            KYC_CORS_ORIGINS="https://shop.example",
            KYC_RATE_LIMIT_PER_HOUR="3",
            KYC_MAX_BODY_BYTES="2048",
            KYC_MAX_META_INFO_BYTES="512",
            KYC_JWT_LEEWAY="5",
        )
    )
    assert settings.public_url == "https://kyc.example"  # trailing slash dropped
    assert settings.return_url_allowlist == ("https://shop.example/done", "https://shop.example/other")
    assert settings.cors_origins == ("https://shop.example",)
    assert (settings.rate_limit_per_hour, settings.max_body_bytes, settings.max_meta_info_bytes) == (3, 2048, 512)
    assert settings.jwt_leeway_seconds == 5


def test_frontend_defaults() -> None:
    settings = FrontendSettings.from_env(frontend_env())
    assert settings.rate_limit_per_hour == 10 and settings.jwt_leeway_seconds == 30 and settings.cors_origins == ()


def test_frontend_settings_repr_hides_secrets() -> None:
    text = repr(FrontendSettings.from_env(frontend_env()))
    assert JWT_SECRET not in text and PEPPER not in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KYC_PUBLIC_URL", "<unset>"),
        ("KYC_PUBLIC_URL", "kyc.example"),
        ("KYC_PUBLIC_URL", "ftp://kyc.example"),
        ("KYC_JWT_SECRET", "<unset>"),
        ("KYC_JWT_SECRET", "short-secret-value"),
        ("KYC_USER_ID_PEPPER", "<unset>"),
        ("KYC_USER_ID_PEPPER", "tiny-pepper"),
        ("KYC_RETURN_URL_ALLOWLIST", "<unset>"),
        ("KYC_RETURN_URL_ALLOWLIST", " , "),
        ("KYC_RETURN_URL_ALLOWLIST", "https://ok.example,javascript:alert(1)"),
        ("KYC_RATE_LIMIT_PER_HOUR", "-1"),
        ("KYC_RATE_LIMIT_PER_HOUR", "ten"),
        ("KYC_MAX_BODY_BYTES", "100"),
        ("KYC_MAX_META_INFO_BYTES", "10"),
        ("KYC_JWT_LEEWAY", "301"),
    ],
)
def test_invalid_frontend_variable_is_named(variable: str, value: str) -> None:
    error = _error(FrontendSettings, frontend_env(**{variable: value}))
    assert error.variable == variable
    assert variable in str(error)


def test_a_whole_number_at_the_top_of_its_range_is_accepted() -> None:
    assert FrontendSettings.from_env(frontend_env(KYC_JWT_LEEWAY="300")).jwt_leeway_seconds == 300
    assert SweepSettings.from_env({"KYC_SWEEP_BATCH": "10000"}).batch_size == 10000


def test_a_backend_named_aliyun_in_capitals_requires_https_as_it_runs_on_aliyun() -> None:
    """Found by review bj: the https rule read ``KYC_BACKEND`` case-sensitively, the storage settings did not."""
    env = frontend_env(KYC_BACKEND="Aliyun", KYC_PUBLIC_URL="http://kyc.example")
    assert StorageSettings.from_env({**env, "KYC_TABLESTORE_ENDPOINT": "https://i.cn-hangzhou.ots.aliyuncs.com",
                                     "KYC_TABLESTORE_INSTANCE": "i", "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
                                     "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"},
                                    tablestore_only=True).backend == "aliyun"
    assert _error(FrontendSettings, env).variable == "KYC_PUBLIC_URL"


@pytest.mark.parametrize(
    ("variable", "value"), [("KYC_JWT_SECRET", "tooshort-SECRET"), ("KYC_USER_ID_PEPPER", "PEPPER-x")]
)
def test_secret_values_are_never_echoed(variable: str, value: str) -> None:
    error = _error(FrontendSettings, frontend_env(**{variable: value}))
    assert value not in str(error)


def test_public_url_must_be_https_with_the_aliyun_backend() -> None:
    error = _error(FrontendSettings, frontend_env(KYC_BACKEND="aliyun", KYC_PUBLIC_URL="http://kyc.example"))
    assert error.variable == "KYC_PUBLIC_URL"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "http://127.8.9.10:9000", "http://[::1]:9000"])
def test_http_public_url_on_a_loopback_address_is_fine_with_the_aliyun_backend(url: str) -> None:
    settings = FrontendSettings.from_env(frontend_env(KYC_BACKEND="aliyun", KYC_PUBLIC_URL=url))
    assert settings.public_url == url


@pytest.mark.parametrize("url", ["http://localhost:9000", "http://10.0.0.8"])
def test_http_public_url_elsewhere_is_refused_with_the_aliyun_backend(url: str) -> None:
    assert _error(FrontendSettings, frontend_env(KYC_BACKEND="aliyun", KYC_PUBLIC_URL=url)).variable == "KYC_PUBLIC_URL"


def test_http_public_url_is_fine_locally() -> None:
    assert FrontendSettings.from_env(frontend_env(KYC_PUBLIC_URL="http://127.0.0.1:9000")).public_url.startswith(
        "http:"
    )


UNSAFE_IN_URLS = ["\t", "\r\n", "\n", "\x00", " ", "\u200b", "\\"]


@pytest.mark.parametrize("char", UNSAFE_IN_URLS)
@pytest.mark.parametrize("variable", ["KYC_PUBLIC_URL", "KYC_RETURN_URL_ALLOWLIST"])
def test_a_configured_url_with_an_unsafe_character_fails_at_start(variable: str, char: str) -> None:
    error = _error(FrontendSettings, frontend_env(**{variable: f"https://kyc.exa{char}mple/done"}))
    assert error.variable == variable


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KYC_PUBLIC_URL", "https://user:pw@kyc.example"),
        ("KYC_PUBLIC_URL", "https://kyc.example/?x=1"),
        ("KYC_PUBLIC_URL", "https://kyc.example/#f"),
        ("KYC_RETURN_URL_ALLOWLIST", "https://user@shop.example/"),
    ],
)
def test_a_public_url_is_a_plain_base_and_an_allowlist_prefix_can_match(variable: str, value: str) -> None:
    error = _error(FrontendSettings, frontend_env(**{variable: value}))
    assert error.variable == variable and "pw" not in str(error)


# -- FetchSettings / SweepSettings -----------------------------------------------------------------------------


def test_fetch_settings_defaults() -> None:
    settings = FetchSettings.from_env({})
    assert settings.recheck_schedule == DEFAULT_RECHECK_SCHEDULE and settings.delete_vendor_copy is False


def test_fetch_settings_read_schedule_and_delete_flag() -> None:
    settings = FetchSettings.from_env({"KYC_RECHECK_SCHEDULE": "1, 2.5,60", "KYC_DELETE_VENDOR_COPY": "Y"})
    assert settings.recheck_schedule == (1.0, 2.5, 60.0) and settings.delete_vendor_copy is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KYC_RECHECK_SCHEDULE", "10,soon"), ("KYC_RECHECK_SCHEDULE", "10,-1"), ("KYC_RECHECK_SCHEDULE", "10,nan"),
     ("KYC_DELETE_VENDOR_COPY", "maybe")],
)
def test_invalid_fetch_variable_is_named(variable: str, value: str) -> None:
    assert _error(FetchSettings, {variable: value}).variable == variable


@pytest.mark.parametrize(("value", "meaning"), [(v, True) for v in ("1", "true", "TRUE", "yes", "Y", "on")]
                         + [(v, False) for v in ("0", "false", "False", "no", "n", "OFF")])
def test_a_yes_no_setting_takes_every_spelling_it_documents(value: str, meaning: bool) -> None:
    assert FetchSettings.from_env({"KYC_DELETE_VENDOR_COPY": value}).delete_vendor_copy is meaning


def test_a_schedule_may_ask_for_no_wait() -> None:
    assert FetchSettings.from_env({"KYC_RECHECK_SCHEDULE": "0,10"}).recheck_schedule == (0.0, 10.0)


def test_a_schedule_step_over_five_days_is_refused_wherever_it_stands() -> None:
    with pytest.raises(ConfigError) as info:
        FetchSettings.from_env({"KYC_RECHECK_SCHEDULE": "432001,10"})
    assert info.value.variable == "KYC_RECHECK_SCHEDULE"


def _created(at: float) -> TransactionRecord:
    return TransactionRecord(merchant_biz_id="abc123", transaction_id="t1", merchant_user_id="u", doc_type="01000000",
                             created_at=at, updated_at=at)


def test_the_vendor_may_still_keep_a_copy_for_its_30_days_and_a_day_of_margin() -> None:
    """The vendor keeps results 30 days "after the authentication process is complete", counted here from the row's
    creation: a day of margin for the completion."""
    now = 100 * 86400.0
    assert vendor_may_still_keep(_created(now - 30.5 * 86400), now)
    assert not vendor_may_still_keep(_created(now - 31.5 * 86400), now)


def test_sweep_settings_defaults_and_values() -> None:
    assert SweepSettings.from_env({}) == SweepSettings(900.0, 86400.0, 0, 200, DEFAULT_WEBHOOK_RETRY_SCHEDULE)
    env = {"KYC_SWEEP_AFTER": "60", "KYC_ABANDON_AFTER": "3600", "KYC_RETENTION_DAYS": "30", "KYC_SWEEP_BATCH": "5",
           "KYC_WEBHOOK_RETRY_SCHEDULE": "1,2"}
    assert SweepSettings.from_env(env) == SweepSettings(60.0, 3600.0, 30, 5, (1.0, 2.0))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KYC_SWEEP_AFTER", "-5"),
        ("KYC_ABANDON_AFTER", "nan"),
        ("KYC_RETENTION_DAYS", "-1"),
        ("KYC_SWEEP_BATCH", "0"),
        ("KYC_SWEEP_BATCH", "10001"),
    ],
)
def test_invalid_sweep_variable_is_named(variable: str, value: str) -> None:
    assert _error(SweepSettings, {variable: value}).variable == variable


# -- WebhookSettings -------------------------------------------------------------------------------------------


def _hooks(*items: str) -> dict[str, str]:
    return {"KYC_WEBHOOKS": "[" + ",".join(items) + "]"}


def test_no_webhooks_configured_means_no_subscribers() -> None:
    settings = WebhookSettings.from_env({})
    assert settings.subscribers == () and settings.retry_schedule == DEFAULT_WEBHOOK_RETRY_SCHEDULE
    assert settings.allow_private_targets is False and settings.require_https is False


def test_webhooks_are_parsed_with_include_pii() -> None:
    env = _hooks(
        f'{{"url": "https://a.example/h", "secret": "{HOOK_SECRET}"}}',
        f'{{"url": "https://b.example/h", "secret": "{HOOK_SECRET}", "includePii": true}}',
    )
    settings = WebhookSettings.from_env(env)
    assert settings.subscribers == (
        Subscriber("https://a.example/h", HOOK_SECRET, False),
        Subscriber("https://b.example/h", HOOK_SECRET, True),
    )
    assert HOOK_SECRET not in repr(settings)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"url": "https://a.example"}',
        "{}",  # an object, not a list: never read as no subscribers
        '[{"url": "https://a.example/h"}]',
        '[{"url": 5, "secret": "whsec_x"}]',
        '[{"url": "mailto:x@example.com", "secret": "whsec_x"}]',
        '[{"url": "https://a.example/h", "secret": "plain-SECRETVALUE"}]',
        '[{"url": "https://a.example/h", "secret": "whsec_x"}]',  # not 24-64 bytes of base64
        '[{"url": "https://a.example/h", "secret": "HOOK", "includePii": "yes"}]',
        '[{"url": "https://a.example/h", "secret": "HOOK"}, {"url": "https://a.example/h", "secret": "HOOK"}]',
    ],
)
def test_invalid_webhooks_are_named_without_echoing_secrets(raw: str) -> None:
    error = _error(WebhookSettings, {"KYC_WEBHOOKS": raw.replace("HOOK", HOOK_SECRET)})
    assert error.variable == "KYC_WEBHOOKS"
    assert "SECRETVALUE" not in str(error) and "whsec_x" not in str(error) and HOOK_SECRET not in str(error)


def test_a_subscriber_url_may_carry_a_query() -> None:
    url = "https://a.example/h?tenant=7"
    settings = WebhookSettings.from_env(_hooks(f'{{"url": "{url}", "secret": "{HOOK_SECRET}"}}'))
    assert [s.url for s in settings.subscribers] == [url]


@pytest.mark.parametrize("char", UNSAFE_IN_URLS)
def test_a_subscriber_url_with_an_unsafe_character_fails_at_start(char: str) -> None:
    url = jsonutil.dumps_str(f"https://a.exa{char}mple/h")
    assert _error(WebhookSettings, _hooks(f'{{"url": {url}, "secret": "{HOOK_SECRET}"}}')).variable == "KYC_WEBHOOKS"


def test_a_subscriber_url_with_credentials_is_refused_pointing_to_the_secret_and_headers() -> None:
    error = _error(WebhookSettings, _hooks(f'{{"url": "https://bob:hunter2@a.example/h", "secret": "{HOOK_SECRET}"}}'))
    assert error.variable == "KYC_WEBHOOKS"
    assert "headers" in str(error) and "secret" in str(error)
    assert "hunter2" not in str(error) and "bob" not in str(error)


def test_subscriber_headers_are_read_kept_out_of_reprs_and_scrubbed_from_logs() -> None:
    from shared.redaction import scrub_text

    env = _hooks(f'{{"url": "https://a.example/h", "secret": "{HOOK_SECRET}", '
                 f'"headers": {{"Authorization": "Bearer subscriber-token-1234"}}}}')  # fmt: skip
    settings = WebhookSettings.from_env(env)
    assert dict(settings.subscribers[0].headers) == {"Authorization": "Bearer subscriber-token-1234"}
    assert "subscriber-token-1234" not in repr(settings)
    assert "subscriber-token-1234" not in scrub_text("sent Bearer subscriber-token-1234 to the receiver")


@pytest.mark.parametrize(
    "headers",
    [
        '["Authorization"]',
        '{"Authorization": 5}',
        '{"X-Token": "a\\r\\nSet-Cookie: b"}',
        '{"X Token": "b"}',
        '{"": "b"}',
        '{"webhook-signature": "v1,forged"}',
        '{"Content-Type": "text/plain"}',
        '{"Host": "internal.example"}',
    ],
)
def test_subscriber_headers_that_could_split_or_forge_a_request_are_refused(headers: str) -> None:
    env = _hooks(f'{{"url": "https://a.example/h", "secret": "{HOOK_SECRET}", "headers": {headers}}}')
    assert _error(WebhookSettings, env).variable == "KYC_WEBHOOKS"


def test_subscriber_fields_select_identity_fields_by_name() -> None:
    env = _hooks(f'{{"url": "https://a.example/h", "secret": "{HOOK_SECRET}", "fields": ["surname", "sex"]}}',
                 f'{{"url": "https://b.example/h", "secret": "{HOOK_SECRET}"}}')  # fmt: skip
    first, second = WebhookSettings.from_env(env).subscribers
    assert first.fields == frozenset({"surname", "sex"}) and second.fields is None


@pytest.mark.parametrize("fields", ['"surname"', '["surname", 3]', '["shoeSize"]'])
def test_unknown_or_malformed_subscriber_fields_are_refused(fields: str) -> None:
    env = _hooks(f'{{"url": "https://a.example/h", "secret": "{HOOK_SECRET}", "fields": {fields}}}')
    assert _error(WebhookSettings, env).variable == "KYC_WEBHOOKS"


def test_the_api_shows_no_identity_fields_unless_configured() -> None:
    assert FrontendSettings.from_env(frontend_env()).identity_fields == frozenset()
    configured = FrontendSettings.from_env(frontend_env(KYC_API_IDENTITY_FIELDS="surname, documentNumber"))
    assert configured.identity_fields == frozenset({"surname", "documentNumber"})
    assert _error(FrontendSettings, frontend_env(KYC_API_IDENTITY_FIELDS="surname,shoeSize")).variable == (
        "KYC_API_IDENTITY_FIELDS")  # fmt: skip


def test_webhooks_must_be_https_with_the_aliyun_backend() -> None:
    env = {"KYC_BACKEND": "aliyun", **_hooks(f'{{"url": "http://a.example/h", "secret": "{HOOK_SECRET}"}}')}
    assert _error(WebhookSettings, env).variable == "KYC_WEBHOOKS"


def test_webhooks_on_a_loopback_address_may_be_http_with_the_aliyun_backend() -> None:
    env = {"KYC_BACKEND": "aliyun", **_hooks(f'{{"url": "http://127.0.0.1:9000/h", "secret": "{HOOK_SECRET}"}}')}
    (subscriber,) = WebhookSettings.from_env(env).subscribers
    assert subscriber.url == "http://127.0.0.1:9000/h"


def test_aliyun_backend_forces_https_delivery() -> None:
    settings = WebhookSettings.from_env({"KYC_BACKEND": "aliyun", "KYC_WEBHOOK_REQUIRE_HTTPS": "false"})
    assert settings.require_https is True


def test_webhook_options_are_read() -> None:
    settings = WebhookSettings.from_env(
        {
            "KYC_WEBHOOK_RETRY_SCHEDULE": "1,2",
            "KYC_WEBHOOK_ALLOW_PRIVATE": "true",
            "KYC_WEBHOOK_REQUIRE_HTTPS": "1",
            "KYC_WEBHOOK_TIMEOUT": "2.5",
        }
    )
    assert settings.retry_schedule == (1.0, 2.0) and settings.allow_private_targets and settings.require_https
    assert settings.timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KYC_WEBHOOK_RETRY_SCHEDULE", "x"),
        ("KYC_WEBHOOK_ALLOW_PRIVATE", "perhaps"),
        ("KYC_WEBHOOK_REQUIRE_HTTPS", "2"),
        ("KYC_WEBHOOK_TIMEOUT", "0.01"),
    ],
)
def test_invalid_webhook_option_is_named(variable: str, value: str) -> None:
    assert _error(WebhookSettings, {variable: value}).variable == variable


def test_a_webhook_timeout_whose_deliveries_cannot_fit_the_notifiers_time_fails_at_start() -> None:
    from shared.notifications import DELIVERY_BUDGET_SECONDS, MAX_PARALLEL_DELIVERIES

    assert _error(WebhookSettings, {"KYC_WEBHOOK_TIMEOUT": str(DELIVERY_BUDGET_SECONDS + 1)}).variable == (
        "KYC_WEBHOOK_TIMEOUT")  # fmt: skip
    hooks = [f'{{"url": "https://h{i}.example/h", "secret": "{HOOK_SECRET}"}}'
             for i in range(MAX_PARALLEL_DELIVERIES + 1)]  # fmt: skip
    two_rounds = {**_hooks(*hooks), "KYC_WEBHOOK_TIMEOUT": str(DELIVERY_BUDGET_SECONDS / 2 + 1)}
    assert _error(WebhookSettings, two_rounds).variable == "KYC_WEBHOOK_TIMEOUT"
    assert WebhookSettings.from_env({**two_rounds, "KYC_WEBHOOK_TIMEOUT": str(DELIVERY_BUDGET_SECONDS / 2)})


def test_more_subscribers_than_the_notifier_is_budgeted_for_fail_at_start_whatever_the_webhook_timeout() -> None:
    """Found by review az: a 1 s KYC_WEBHOOK_TIMEOUT admitted 400 subscribers, whose follow-ups no notifier timeout
    within the 5 minutes of its queue trigger covers."""
    from shared.notifications import MAX_SUBSCRIBERS

    hooks = [f'{{"url": "https://h{i}.example/h", "secret": "{HOOK_SECRET}"}}' for i in range(MAX_SUBSCRIBERS + 1)]
    assert _error(WebhookSettings, {**_hooks(*hooks), "KYC_WEBHOOK_TIMEOUT": "1"}).variable == "KYC_WEBHOOKS"
    assert len(WebhookSettings.from_env(_hooks(*hooks[:MAX_SUBSCRIBERS])).subscribers) == MAX_SUBSCRIBERS


def test_previous_jwt_secrets_are_read_for_rotation_and_must_be_long() -> None:
    from shared.config import ConfigError
    from shared.verifications import FrontendSettings

    base = {
        "KYC_PUBLIC_URL": "https://kyc.example.com",
        "KYC_JWT_SECRET": "n" * 40,
        "KYC_USER_ID_PEPPER": "p" * 20,
        "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
    }
    settings = FrontendSettings.from_env({**base, "KYC_JWT_PREVIOUS_SECRETS": "o" * 40})
    assert settings.jwt_previous_secrets == ("o" * 40,)
    with pytest.raises(ConfigError) as info:
        FrontendSettings.from_env({**base, "KYC_JWT_PREVIOUS_SECRETS": "short"})
    assert info.value.variable == "KYC_JWT_PREVIOUS_SECRETS" and "short" not in str(info.value)


@pytest.mark.parametrize("variable", ["KYC_RECHECK_SCHEDULE", "KYC_WEBHOOK_RETRY_SCHEDULE"])
def test_schedule_steps_over_five_days_are_refused_a_message_must_be_visible_for_a_day_of_its_seven(
    variable: str,
) -> None:
    """MNS deletes a message seven days after it was sent, its delay included (shared.config): a step of six days,
    jittered, would become visible as it is deleted (review bg)."""
    from shared.config import MAX_SCHEDULE_STEP_SECONDS, ConfigError, env_schedule

    assert env_schedule({variable: f"10,{MAX_SCHEDULE_STEP_SECONDS}"}, variable, (1.0,))[-1] == 432000.0
    for longest in (MAX_SCHEDULE_STEP_SECONDS + 1, 6 * 86400, 700000):
        with pytest.raises(ConfigError) as info:
            env_schedule({variable: f"10,{longest}"}, variable, (1.0,))
        assert info.value.variable == variable and "5 days" in str(info.value)
