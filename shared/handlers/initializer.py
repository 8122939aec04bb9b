"""The initializer function's HTTP face: ``POST /verifications``, ``GET /verifications/{id}`` and
``GET /verifications/products``.

Routing, authentication (the frontend's bearer JWT → the owner's peppered hash) and the mapping of the service's
refusals to HTTP statuses; what starting a verification means lives in :mod:`shared.verifications`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import cached_property

from shared.auth import bearer_token, hash_user_id, verify_token
from shared.cloudauth import CloudAuthClient
from shared.disclosure import Disclosure
from shared.fc import HttpError, HttpEvent, Router, http_response
from shared.fc.budget import InvocationBudget
from shared.ids import IDEMPOTENCY_KEY_RULE, idempotency_key
from shared.log import get_logger, log_context
from shared.verifications import FrontendSettings, Refused, Verifications, verification_view
from shared.wiring import build_verifications

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

    from shared.storage import TransactionStore

logger = get_logger("kyc.initializer")

#: The HTTP status of each refusal (codes as documented in openapi.yaml); an unknown code is a 500.
STATUS_BY_CODE: Mapping[str, int] = {
    "InvalidJson": 400,
    "UnknownField": 400,
    "MissingParameter": 400,
    "InvalidParameter": 400,
    "ReturnUrlNotAllowed": 400,
    "InvalidReturnUrl": 400,
    "ProductNotAllowed": 400,
    "VendorRejected": 400,
    "InvalidIdempotencyKey": 400,
    "NotFound": 404,
    "PayloadTooLarge": 413,
    "IdempotencyKeyInUse": 409,
    "IdempotencyKeyReused": 422,
    "RateLimited": 429,
    "VendorError": 502,
    "VendorUnavailable": 502,
    "StorageUnavailable": 503,
    "TryAgain": 503,
    "VendorBusy": 503,
}

#: The request headers a browser may send across origins: the token, the body's type, and Idempotency-Key; and
#: the response headers its page may read: how long to wait, and whether a start was an earlier one's answer.
CORS_ALLOW_HEADERS = ("authorization", "content-type", "idempotency-key")
CORS_EXPOSE_HEADERS = ("retry-after", "idempotent-replayed")

#: On the owner's view of a verification (its outcome, the masked identity KYC_API_IDENTITY_FIELDS selects): no browser
#: or proxy cache keeps it (a shared computer's disk cache would, after the user left; RFC 9111, 5.2.2.5). Review bb.
#: Not on a start's answer: no cache reuses a POST's answer (RFC 9111, 4), and a no-store answer to a page's fetch
#: keeps that page out of the browser's back/forward cache, which brings the user back from the vendor's page to the
#: page as they left it (tests/e2e/test_browser.py).
NOT_STORED = {"cache-control": "no-store"}

#: The budget of the invocation this thread serves (FC may run several requests on one instance at once).
_budget: ContextVar[InvocationBudget | None] = ContextVar("initializer_budget", default=None)


#: Room in an HTTP event beside its body: headers, query, request context (FC's header limits: *unverified*).
EVENT_OVERHEAD_BYTES = 128 * 1024


def max_event_bytes(settings: FrontendSettings) -> int:
    """The largest event an accepted request can make: a body of ``max_body_bytes`` as a JSON string in the event
    (up to 6 bytes per byte, ``\\u00XX``; base64 needs 4/3) plus the rest of the event."""
    return 6 * settings.max_body_bytes + EVENT_OVERHEAD_BYTES


def authenticate(headers: Mapping[str, str], settings: FrontendSettings) -> str:
    """The caller's hashed user id from its bearer token; :class:`AuthFailed` (401) for a missing or bad token.
    Also the local gateway's check before it reads a body (``tools.devstack.gateway.frontend_body_gate``)."""
    token = bearer_token(headers)
    secrets_ = (settings.jwt_secret, *settings.jwt_previous_secrets)
    claims = verify_token(token, secrets_, leeway=settings.jwt_leeway_seconds, audience=settings.jwt_audience)
    return hash_user_id(claims.sub, settings.user_id_pepper)


def http_error(refusal: Refused) -> HttpError:
    headers = {"retry-after": str(refusal.retry_after)} if refusal.retry_after is not None else None
    status = STATUS_BY_CODE.get(refusal.code, 500)
    return HttpError(status, refusal.code, refusal.message, headers=headers, details=refusal.details)


class InitializerApp:
    def __init__(
        self,
        *,
        settings: FrontendSettings,
        client: CloudAuthClient,
        store: TransactionStore,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.monotonic = monotonic  # the invocation budgets' clock
        self.verifications = Verifications(settings=settings, client=client, store=store, clock=clock)
        self.router = Router(
            cors_origins=settings.cors_origins, cors_allow_headers=CORS_ALLOW_HEADERS,
            cors_expose_headers=CORS_EXPOSE_HEADERS, on_error=self._on_error,
            max_event_bytes=max_event_bytes(settings),
        )
        self.router.route("POST", "/verifications", max_body_bytes=settings.max_body_bytes)(self.start_verification)
        # before /verifications/{id}: routes match in order ("products" is never one of our ids: those are 32 hex)
        self.router.route("GET", "/verifications/products")(self.list_products)
        self.router.route("GET", "/verifications/{merchant_biz_id}")(self.get_verification)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InitializerApp:
        service = build_verifications(env)
        return cls(settings=service.settings, client=service.client, store=service.store)

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """One request; its time budget starts now, from the function's timeout in ``context``."""
        request_id = getattr(context, "request_id", None)
        token = _budget.set(InvocationBudget.from_context(context, clock=self.monotonic))
        try:
            with log_context(request_id=request_id):
                return self.router.dispatch(event)
        finally:
            _budget.reset(token)

    # -- routes ---------------------------------------------------------------------------------------------

    def _user(self, event: HttpEvent) -> str:
        return authenticate(event.headers, self.settings)

    def start_verification(self, event: HttpEvent) -> dict[str, Any]:
        # The router refused a body certainly over the limit; the token is checked before the body is read.
        owner = self._user(event)
        header = event.header("idempotency-key")
        key = None if header is None else idempotency_key(header)
        if header is not None and key is None:
            raise HttpError(400, "InvalidIdempotencyKey", f"Idempotency-Key must be {IDEMPOTENCY_KEY_RULE}")
        body = event.json(max_bytes=self.settings.max_body_bytes)
        try:
            started = self.verifications.start(owner, body, budget=_budget.get(), idempotency_key=key)
        except Refused as refusal:
            raise http_error(refusal) from None
        return http_response(201, started.view(), {"idempotent-replayed": "true"} if started.replayed else None)

    def list_products(self, event: HttpEvent) -> dict[str, Any]:
        """The products a frontend may offer, with their document types in this region. Public (no token): the same
        for every caller, and nothing in it is secret; caches may keep it for a few minutes."""
        return http_response(200, self._products_view, {"cache-control": "public, max-age=300"})

    @cached_property
    def _products_view(self) -> dict[str, Any]:
        """The offer's view: fixed for the instance, built by the first request that asks (not at start)."""
        return self.verifications.offer.view()

    def get_verification(self, event: HttpEvent, merchant_biz_id: str) -> dict[str, Any]:
        owner = self._user(event)
        try:
            record = self.verifications.get(owner, merchant_biz_id)
        except Refused as refusal:
            raise http_error(refusal) from None
        view = verification_view(record, disclosure=Disclosure(self.settings.identity_fields))
        return http_response(200, view, NOT_STORED)

    def _on_error(self, exc: BaseException) -> None:
        logger.error("initializer.unhandled", exc_info=exc)
