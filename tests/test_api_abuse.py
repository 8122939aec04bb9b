"""What an outsider, or an authenticated user acting badly, must not get from the initializer's API (found by
review, each test failing first): a token minted for another service, a rate limit dodged through the vendor's
refusals, a cross-origin frontend blind to how long to wait.

The apps run as FC would run them: raw event bytes in, an FC response out, over the real SQLite store and queues;
only the vendor is a fake (``tests.fakes.FakeCloudAuth``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from shared import jsonutil
from shared.auth import issue_token
from shared.cloudauth import ParameterError
from shared.handlers.initializer import InitializerApp
from shared.storage import SqliteTransactionStore
from shared.values import replace
from tests.fakes import T0, FakeClock, FakeCloudAuth
from tests.test_initializer_app import META, SECRET, SUB, _app, _settings, client, store

ORIGIN = "https://shop.example"
__all__ = ["client", "store"]


def _http_event(method: str, path: str, *, body: str = "", headers: dict[str, str] | None = None,
                query: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    event: dict[str, Any] = {
        "version": "v1",
        "rawPath": path,
        "body": body,
        "isBase64Encoded": False,
        "headers": headers or {},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.7"}},
    }
    if query is not None:
        event["queryParameters"] = query
    return event


def _post_start(app: InitializerApp, token: str, *, origin: str | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if origin is not None:
        headers["Origin"] = origin
    body = jsonutil.dumps_str({"docType": "01000000", "metaInfo": META})
    raw = jsonutil.dumps(_http_event("POST", "/verifications", body=body, headers=headers))  # FC passes bytes
    response = app.handle(raw, None)
    return response["statusCode"], response["headers"], jsonutil.loads(response["body"] or "null")


def _hs256(claims: dict[str, Any], secret: str) -> str:
    """A well-signed HS256 token carrying exactly ``claims`` (what any JWT library of the merchant's would mint)."""

    def b64url(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64url(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64url(signature)).decode("ascii")


# --- authentication ----------------------------------------------------------------------------------------------


def test_a_token_minted_for_another_audience_is_refused(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    """The attacker: any holder of a token the merchant's backend signed with the same key for another service
    (``aud`` names that service: a payments API, an e-mail link, a mobile session) presents it here. The token is
    well signed, unexpired and names a user, and ``verify_token`` never reads ``aud``: the request starts a billed
    verification as that user (201). RFC 7519 §4.1.3: a recipient that does not identify itself with a value in a
    present ``aud`` claim MUST reject the token; PyJWT, the oracle ``shared.auth`` claims to mirror step by step,
    raises ``InvalidAudienceError`` for exactly this token when no audience is configured. Expected: 401
    ``InvalidToken`` and no vendor call."""
    token = _hs256({"sub": SUB, "exp": int(time.time()) + 600, "aud": "https://payments.shop.example"},
                   SECRET)  # fmt: skip

    status, headers, body = _post_start(_app(store, client), token)

    assert status == 401, f"a token for another audience was accepted: {status} {body}"
    assert body["error"]["code"] == "InvalidToken" and headers["www-authenticate"].startswith("Bearer")
    assert client.initialize_calls == []


def test_with_an_audience_configured_a_token_naming_it_starts_and_one_naming_another_is_refused(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """``KYC_JWT_AUDIENCE``: a merchant whose tokens carry ``aud`` names this API's there (docs/integration.md)."""
    settings = replace(_settings(), jwt_audience="https://kyc.example")
    app = InitializerApp(settings=settings, client=client, store=store, clock=FakeClock(T0))  # type: ignore[arg-type]
    claims = {"sub": SUB, "exp": int(time.time()) + 600}

    ours = _post_start(app, _hs256({**claims, "aud": ["https://kyc.example", "other"]}, SECRET))[0]
    theirs = _post_start(app, _hs256({**claims, "aud": "https://payments.shop.example"}, SECRET))[0]
    none = _post_start(app, _hs256(claims, SECRET))[0]

    assert (ours, theirs, none) == (201, 401, 401)


# --- rate limits and the vendor's quota --------------------------------------------------------------------------


def test_starts_the_vendor_refused_still_count_against_the_users_hourly_limit(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """The attacker: one authenticated user sends starts the vendor answers 400 ``InvalidParameter`` (a
    ``metaInfo`` the client cannot check itself, the vendor's documented parameter error). Each reached the vendor,
    yet ``_call_start`` files the vendor's answer as ``NotBilled`` and gives the slot back, so the hourly limit never
    fills: one token keeps calling Initialize as fast as it can, and the account's Initialize QPS (10 for eKYC,
    shared by every user of the deployment) goes to the attacker while everyone else gets ``VendorBusy``. Expected:
    a start that reached the vendor counts, whatever the vendor answered (only a refusal made before sending, the
    client's own check with no HTTP status, may give the slot back): with a limit of 2, the third start is 429 and
    the vendor saw two calls."""
    client.initialize_error = ParameterError("Specified parameter MetaInfo is not valid.", code="InvalidParameter",
                                             status=400)  # fmt: skip
    app = _app(store, client, rate_limit=2)
    token = issue_token(SUB, SECRET)

    statuses = [_post_start(app, token)[0] for _ in range(5)]

    assert statuses[:2] == [400, 400]
    assert len(client.initialize_calls) == 2, f"{len(client.initialize_calls)} vendor calls for a limit of 2"
    assert statuses[2:] == [429, 429, 429]


# --- CORS --------------------------------------------------------------------------------------------------------


def test_a_cross_origin_frontend_can_read_the_retry_after_of_a_refusal(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """The unlucky day: the merchant's frontend runs on its own origin (``KYC_CORS_ORIGINS``) and a user hits the
    hourly limit. The 429 carries ``Retry-After`` (openapi.yaml documents it; the body's message does not say how
    long), but ``Retry-After`` is not a CORS-safelisted response header and no ``Access-Control-Expose-Headers``
    names it, so the browser hides it: ``response.headers.get("Retry-After")`` is null in the frontend (the demo
    page only reads it because it is same-origin), which can only guess or hammer. The same holds for the 503s
    (``VendorBusy``, ``TryAgain``). Expected: answers to an allowed origin expose ``Retry-After``."""
    app = _app(store, client, rate_limit=1, cors_origins=(ORIGIN,))
    token = issue_token(SUB, SECRET)
    assert _post_start(app, token, origin=ORIGIN)[0] == 201

    status, headers, _ = _post_start(app, token, origin=ORIGIN)

    assert status == 429 and headers["access-control-allow-origin"] == ORIGIN and "retry-after" in headers
    exposed = {name.strip().lower() for name in headers.get("access-control-expose-headers", "").split(",")}
    assert "retry-after" in exposed, "the browser hides Retry-After from a cross-origin frontend"
