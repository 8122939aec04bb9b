"""Starting a verification and showing it to its owner: the initializer's service, whatever the access path.

:meth:`Verifications.start`, in this order of effects:

1. the request is checked and built (nothing is stored or sent yet): the product (``productCode``, one of the
   deployment's :class:`ProductOffer`), our fields with the product's ``docType`` rule, the switches the product
   accepts (:func:`~shared.cloudauth.switches.switches_for`), a new merchantBizId, the callback URL and token;
2. the start is counted against the owner's hourly limit with one conditional write to their counter
   (:mod:`shared.ratelimit`; 429 when the limit is reached); a lost race is retried only while the invocation's
   time budget (:class:`~shared.fc.budget.InvocationBudget`) still covers another round and the billed part;
3. the budget must cover the billed part — the start call and the row's create, each at its deadline, one more
   store call (the read-back of a create that may have been applied, or a keyed start's give-back of its key) and
   ``START_MARGIN_SECONDS`` (:meth:`Verifications.billed_part_seconds`, :meth:`Verifications._guaranteed_seconds`)
   — or nothing is started: the count is given back (while a read and a write still fit:
   :meth:`Verifications._release_rate_slot`) and the caller told ``TryAgain`` (503, ``Retry-After``). FC never
   ends an invocation between a billed start and its stored row, whatever the calls before took;
4. the product's start operation (``Initialize`` or ``InitializeV2``, from :mod:`shared.products`) is called once,
   never retried once it may have reached the vendor (each one is billed); when the vendor certainly did nothing the
   count is given back (while time allows, as in 3);
5. the PENDING row is stored (conditional create) before anyone learns the URL: without the row the callback could
   never be matched, so a failed write refuses the start (no URL) — the vendor's transaction is then left unused.
   A create that may have been applied (no answer, a 5xx, or ``RecordExists`` from a re-sent write) is read back
   once: this start's own row is answered 201.

With an ``Idempotency-Key`` (``idempotency_key``), the merchantBizId is the owner's key's of this UTC day
(:func:`~shared.ids.merchant_biz_id_for_key`), and before step 2:

a. the rows of this day's and the day before's ids are read (and, within ``IDEMPOTENCY_CLOCK_SKEW_SECONDS`` of the
   next day, the next day's: another instance's clock may be ahead). A start stored under one answers again as it
   did (``Started.replayed``; no count, no vendor call), or, for another request body, is refused
   ``IdempotencyKeyReused`` (422);
b. else the key is claimed for this start (:meth:`~shared.storage.TransactionStore.take_claim` in the rate table,
   :func:`~shared.ids.idempotency_claim_key`, whatever the day, with a random holder of this start's), or the start
   is refused ``IdempotencyKeyInUse`` (409, ``Retry-After``): another start with the key is in flight, or its row
   is gone (erased; never stored after a crash) while the claim lasts: to the end of the next UTC day (Tablestore:
   a day after it was written, the rate table's TTL), past the day whose id it guards. A start that failed gives
   it back (whatever the failure), unless its row may be stored: a create that may have been applied and whose
   read-back did not find it (a write whose answer was lost may still land after the read; a repeat would then
   find the row), so that a repeat may start it. The give-back frees only this start's claim, so a claim whose
   take failed is given back too (it frees the claim only if that take was applied all the same). Only a start
   FC cut off, or one whose give-back failed as well, leaves the key held until the claim lapses. So two requests
   at once never both reach the vendor, and a key never starts a second verification under an id one had. The key
   is claimed only with time left for the rest and the give-back; the rate slot is given back after the key.

Such a row also keeps the URL and the request's SHA-256, to answer again. Should two creates under one id still
meet, the second answers with the first's row (``initialize.idempotent_race``).

Every refusal is a :class:`Refused` with a machine-readable code and a message without PII or secrets; the access
path (``shared.handlers.initializer``) maps codes to HTTP statuses. The caller is already authenticated: ``owner``
is the peppered hash of the merchant's user id (:func:`shared.auth.hash_user_id`), never the id itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping

from shared import doctypes, jsonutil, products
from shared.callback import callback_url, hash_callback_token, new_callback_token
from shared.cloudauth import (
    STRICT_BASELINE,
    SWITCHES,
    AuthError,
    CloudAuthClient,
    CloudAuthError,
    CloudAuthSettings,
    InitializeRequest,
    InitializeResponse,
    InitializeV2Request,
    ParameterError,
    RepeatedFailuresLimited,
    Switch,
    Switches,
    ThrottlingError,
    TransportError,
    switches_for,
)
from shared.cloudauth.params import check_value
from shared.config import (
    ConfigError,
    Env,
    env_int,
    env_list,
    env_required,
    env_str,
    environ,
    http_url,
    is_aliyun_backend,
    json_setting,
)
from shared.disclosure import MINIMAL, Disclosure, UnknownField, identity_fields
from shared.fc.budget import InvocationBudget
from shared.ids import (
    IDEMPOTENCY_CLOCK_SKEW_SECONDS,
    IDEMPOTENCY_WINDOW_SECONDS,
    idempotency_claim_key,
    is_merchant_biz_id,
    merchant_biz_id_for_key,
    new_merchant_biz_id,
)
from shared.log import get_logger, log_context, register_secret
from shared.ratelimit import WINDOW_SECONDS, claim_slot, release_slot
from shared.status import Status
from shared.storage import OutOfTime, RecordExists, StorageError, TransactionRecord
from shared.subcodes import sub_code_message
from shared.timestamps import rfc3339
from shared.urls import UnsafeUrl, check_url, has_dot_segment, plain_http_allowed, unsafe_character_at
from shared.values import field, valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

    from shared.storage import TransactionStore

logger = get_logger("kyc.initializer")

#: Fields of ``POST /verifications`` besides the switches.
REQUEST_FIELDS = frozenset({"productCode", "docType", "metaInfo", "returnUrl"})
#: Every switch of any start operation by API name, and those only the deployment sets (``KYC_VENDOR_SWITCHES``;
#: :mod:`shared.cloudauth.switches`).
SWITCHES_BY_NAME = {s.api_name: s for table in SWITCHES.values() for s in table}
ASSURANCE_SWITCHES = {name: s for name, s in SWITCHES_BY_NAME.items() if s.assurance}
#: The billed part's room beside its two calls' deadlines: the work between them (the request's signing, the row)
#: and the moments of the invocation before the handler made its budget (how FC counts those: *unverified*).
START_MARGIN_SECONDS = 3.0
#: ``Retry-After`` of ``TryAgain``: a new request is a new invocation with the whole budget.
TRY_AGAIN_AFTER_SECONDS = 1

def _call_initialize(client: CloudAuthClient, fields: dict[str, Any]) -> InitializeResponse:
    return client.initialize(InitializeRequest(**fields))


def _call_initialize_v2(client: CloudAuthClient, fields: dict[str, Any]) -> InitializeResponse:
    return client.initialize_v2(InitializeV2Request(**fields))


#: How each start operation of :mod:`shared.products` is called, with the fields this service sets (both requests
#: take them). A product is started by its row's operation: adding a product is a row, not a code path here.
START_CALLS: Mapping[str, Callable[[CloudAuthClient, dict[str, Any]], InitializeResponse]] = {
    products.INITIALIZE: _call_initialize,
    products.INITIALIZE_V2: _call_initialize_v2,
}


@valueclass
class ProductOffer:
    """The products this deployment lets a frontend start (``CLOUDAUTH_PRODUCTS``, each checked against the region
    when the settings were read), the one a request that names none gets (``CLOUDAUTH_PRODUCT_CODE``), and the
    region whose document-type lists apply."""

    default: str
    allowed: tuple[str, ...]
    region: str
    allow_undocumented_doc_types: bool = False

    @classmethod
    def from_settings(cls, settings: CloudAuthSettings) -> ProductOffer:
        return cls(
            default=settings.product_code,
            allowed=settings.allowed_products,
            region=settings.region,
            allow_undocumented_doc_types=settings.allow_undocumented_doc_types,
        )

    def product(self, code: Any) -> products.Product:
        """The allowed product ``code`` names (``None``: the default); ``ProductNotAllowed`` otherwise."""
        code = self.default if code is None else code
        product = products.PRODUCTS.get(code) if isinstance(code, str) and code in self.allowed else None
        if product is None or product.start_operation not in START_CALLS:
            raise Refused(
                "ProductNotAllowed",
                f"productCode must be one of {', '.join(self.allowed)}",
                details={"allowed": list(self.allowed)},
            )
        return product

    def view(self) -> dict[str, Any]:
        """``GET /verifications/products``: what a frontend needs to offer a choice (no secrets, no PII)."""
        return {
            "region": self.region,
            "regionName": products.REGION_NAMES.get(self.region),
            "defaultProduct": self.default,
            "products": [self._product_view(products.PRODUCTS[code]) for code in self.allowed],
        }

    def _product_view(self, product: products.Product) -> dict[str, Any]:
        table = product.doc_types
        codes = doctypes.in_table_order(table.codes_in(self.region)) if table is not None else []
        return {
            "productCode": product.code,
            "summary": product.summary,
            "verifiesDocument": product.has_document is not False,
            "docTypeRequired": product.doc_type is products.DocTypeUse.REQUIRED,
            "docTypes": [{"code": code, "name": doctypes.document_name(code)} for code in codes],
            "switches": [s.api_name for s in switches_for(product) if not s.assurance],  # what a request may set
        }


def user_id_pepper(env: Env) -> str:
    """``KYC_USER_ID_PEPPER``: what the user ids are hashed with, at least 16 characters. The one rule, for the
    initializer and for ``kyc erase``, which finds a user's rows by the same hash."""
    pepper = env_required(env, "KYC_USER_ID_PEPPER")
    if len(pepper) < 16:
        raise ConfigError("KYC_USER_ID_PEPPER", "must be at least 16 characters")
    return pepper


@valueclass
class FrontendSettings:
    """What the initializer needs to serve the merchant's web frontend: its API (JWT, CORS, limits) and this service."""

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
    #: The ``aud`` tokens must name (``KYC_JWT_AUDIENCE``); None: tokens must name none.
    jwt_audience: str | None = None
    #: The identity fields the owner's view shows, masked (:mod:`shared.disclosure`; default none).
    identity_fields: frozenset[str] = frozenset()
    #: The deployment's switches, by API name (``STRICT_BASELINE`` with ``KYC_VENDOR_SWITCHES`` over it; each
    #: product gets those it takes): an assurance switch is fixed (a request never sets one), another is a default
    #: a request may override.
    vendor_switches: Mapping[str, str] = field(default_factory=lambda: dict(STRICT_BASELINE))

    @classmethod
    def from_env(cls, env: Env | None = None) -> FrontendSettings:
        env = environ() if env is None else env
        # Secrets are scrubbed from logs as soon as they are read, before any check can fail.
        for previous_secret in env_list(env, "KYC_JWT_PREVIOUS_SECRETS"):
            register_secret(previous_secret)
        register_secret(env_str(env, "KYC_JWT_SECRET"))
        register_secret(env_str(env, "KYC_USER_ID_PEPPER"))
        public_url = http_url("KYC_PUBLIC_URL", env_required(env, "KYC_PUBLIC_URL"), base=True).rstrip("/")
        if is_aliyun_backend(env) and not public_url.startswith("https://") and not plain_http_allowed(public_url):
            raise ConfigError("KYC_PUBLIC_URL", "must be https with the aliyun backend (callbacks are https)")
        jwt_secret = env_required(env, "KYC_JWT_SECRET")
        if len(jwt_secret) < 32:
            raise ConfigError("KYC_JWT_SECRET", "must be at least 32 characters")
        # While rotating, tokens signed with the previous secret(s) stay valid until they expire.
        previous = env_list(env, "KYC_JWT_PREVIOUS_SECRETS")
        if any(len(s) < 32 for s in previous):
            raise ConfigError("KYC_JWT_PREVIOUS_SECRETS", "must list secrets of at least 32 characters")
        pepper = user_id_pepper(env)
        allowlist = env_list(env, "KYC_RETURN_URL_ALLOWLIST")
        if not allowlist:
            raise ConfigError("KYC_RETURN_URL_ALLOWLIST", "is required: the URL prefixes browsers may return to")
        for prefix in allowlist:
            http_url("KYC_RETURN_URL_ALLOWLIST", prefix)
        try:
            identity_fields_ = identity_fields(env_list(env, "KYC_API_IDENTITY_FIELDS"))
        except UnknownField as exc:
            raise ConfigError("KYC_API_IDENTITY_FIELDS", f"lists an unknown field ({exc})") from None
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
            jwt_audience=env_str(env, "KYC_JWT_AUDIENCE"),
            identity_fields=identity_fields_,
            vendor_switches=vendor_switches(env_str(env, "KYC_VENDOR_SWITCHES")),
        )


def _checked_switch(switch: Switch, value: Any) -> str:
    """A switch's value as the vendor takes it (a JSON switch's object encoded: our API and the setting take it
    unencoded too), checked by the vendor's rule. ``ValueError`` says what is wrong, naming the switch as our API
    and the setting spell it (``languageConfig``), not the vendor's parameter (``LanguageConfig``); an empty value
    is wrong, not missing (every switch is optional)."""
    text = jsonutil.dumps_str(value) if switch.json_object and isinstance(value, dict) else value
    try:
        return check_value(switch.parameter, text)
    except ParameterError as exc:
        if exc.code == "MissingParameter":
            raise ValueError(f"{switch.api_name} must not be empty") from None
        # the client's messages are "<parameter> <rule>" (shared.cloudauth.params.invalid)
        raise ValueError(f"{switch.api_name} {exc.message.removeprefix(switch.parameter).lstrip()}") from None


def vendor_switches(setting: str | None) -> dict[str, str]:
    """The deployment's switches: ``STRICT_BASELINE``, then ``KYC_VENDOR_SWITCHES`` over it, a JSON object of
    switches and their values, e.g. ``{"securityLevel": "02", "procedurePriority": "keep"}``, each value checked by
    the vendor's rule (an object for ``styleConfig`` too). ``ConfigError`` names the switch at fault."""
    chosen = dict(STRICT_BASELINE)
    if not setting:
        return chosen
    name = "KYC_VENDOR_SWITCHES"
    for api_name, value in json_setting(name, setting, dict, "a JSON object of switch names and values").items():
        switch = SWITCHES_BY_NAME.get(api_name)
        if switch is None:
            raise ConfigError(name, f"{str(api_name)[:40]} is not a switch ({', '.join(sorted(SWITCHES_BY_NAME))})")
        try:
            chosen[api_name] = _checked_switch(switch, value)
        except ValueError as exc:
            raise ConfigError(name, str(exc)) from None
    return chosen


class Refused(Exception):
    """A verification was not started (or is not shown). ``code`` is machine-readable, ``message`` is for people
    (names fields, never values); ``retry_after`` (seconds) when trying again later will help."""

    log_safe = True

    def __init__(
        self, code: str, message: str, *, retry_after: int | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.details = dict(details or {})  # further machine-readable facts, e.g. the allowed values


class MaybeStored(Refused):
    """``StorageUnavailable`` after a row create that may have been applied (``maybe_sent``: no answer, a 5xx), or
    that found the row there (``RecordExists``), and whose read-back did not find this start's row: the row may be
    there all the same, or land later (a keyed start keeps its key's claim then)."""


class NotBilled(Refused):
    """An Initialize failure after which the vendor certainly created no (billed) transaction. ``counts``: it counts
    against the user's hourly limit all the same. A request the vendor answered with a refusal of its parameters
    used the account's Initialize QPS, shared by every user: it counts, or one user could call the vendor as fast as
    it answers; so does one the vendor refused for repeated failing calls (``Forbidden.ExceptionRepeatedInvoke``). One
    refused before sending, or throttled by the vendor (the account was busy, not the user's doing), gives its slot
    back."""

    def __init__(self, code: str, message: str, *, counts: bool, retry_after: int | None = None) -> None:
        super().__init__(code, message, retry_after=retry_after)
        self.counts = counts


class Started:
    """A started verification: where to send the user. ``replayed``: the answer of an earlier start with the same
    ``Idempotency-Key``, given again."""

    __slots__ = ("merchant_biz_id", "replayed", "transaction_id", "transaction_url")

    def __init__(self, merchant_biz_id: str, transaction_id: str, transaction_url: str, *, replayed: bool = False
                 ) -> None:
        self.merchant_biz_id = merchant_biz_id
        self.transaction_id = transaction_id
        self.transaction_url = transaction_url
        self.replayed = replayed

    def view(self) -> dict[str, str]:
        return {
            "merchantBizId": self.merchant_biz_id,
            "transactionId": self.transaction_id,
            "transactionUrl": self.transaction_url,
        }


def _key_in_use() -> Refused:
    """The refusal of a keyed start whose key another start holds, or whose verification is gone (erased)."""
    return Refused("IdempotencyKeyInUse", "a request with this Idempotency-Key is in progress, or its verification "
                   "is gone: try again in a moment, or use a new key", retry_after=1)


def request_fingerprint(body: Any) -> str:
    """SHA-256 of a request body's JSON with its keys sorted: what a repeat with the same Idempotency-Key must
    send again."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def return_url_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """Prefix match on the raw URL, once :func:`shared.urls.check_url` has accepted it (no control, whitespace,
    invisible or backslash character anywhere: ``urlsplit`` would silently drop some of them, and the raw string
    is what the vendor redirects the browser to). The prefix must end at a path boundary so that an allowed
    ``https://shop.example`` does not admit ``https://shop.example.evil.com``; no userinfo, and no dot segment in
    the path (``https://shop.example/kyc/../admin`` starts with an allowed ``https://shop.example/kyc/`` and lands on
    ``/admin``)."""
    try:
        parts = check_url(url)
    except UnsafeUrl:
        return False
    if "@" in parts.netloc or has_dot_segment(parts.path):
        return False
    for prefix in allowlist:
        if url == prefix or (url.startswith(prefix) and (prefix.endswith("/") or url[len(prefix)] in "/?#")):
            return True
    return False


def verification_view(record: TransactionRecord, *, disclosure: Disclosure = MINIMAL) -> dict[str, Any]:
    """What the owner's frontend may see: the outcome and the face verdicts, and of the masked identity only what
    ``disclosure`` selects (by default nothing: ``identity`` is null); never PII in clear. Times are RFC 3339 (UTC);
    while PENDING, ``checkCount`` and ``nextCheckAt`` tell how often the vendor was asked again and when next."""
    return {
        "merchantBizId": record.merchant_biz_id,
        "transactionId": record.transaction_id,
        "status": record.status,
        "passed": record.passed,
        "subCode": record.sub_code,
        "subCodeMessage": sub_code_message(record.sub_code, record.status),
        "productCode": record.product_code,
        "docType": record.doc_type or None,  # None: the product verifies no document
        "docTypeName": doctypes.document_name(record.doc_type) if record.doc_type else None,
        "createdAt": rfc3339(record.created_at),
        "updatedAt": rfc3339(record.updated_at),
        "finalizedAt": rfc3339(record.finalized_at),
        "checkCount": record.check_count,
        "nextCheckAt": rfc3339(record.next_check_at),
        "identity": Disclosure(disclosure.fields).identity(record.identity_masked),  # masked, whatever it says
        "face": record.face,
    }


class Verifications:
    """Start verifications of the deployment's products and show them to their owners. Thread-safe.

    ``offer``: the products a request may name (default: the client's settings, :meth:`ProductOffer.from_settings`).
    A product is started by its row's operation (:data:`START_CALLS`) with the switches it accepts
    (:func:`~shared.cloudauth.switches.switches_for`): a new product is a row in :mod:`shared.products`.
    """

    def __init__(
        self,
        *,
        settings: FrontendSettings,
        client: CloudAuthClient,
        store: TransactionStore,
        clock: Callable[[], float] = time.time,
        offer: ProductOffer | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.clock = clock
        self.offer = offer if offer is not None else ProductOffer.from_settings(client.settings)

    @property
    def store_call_seconds(self) -> float:
        """The longest one store call takes: the store's call deadline (0 for a store without one: SQLite)."""
        return float(getattr(self.store, "call_deadline", 0.0))

    @property
    def store_round_seconds(self) -> float:
        """One round of a conditional store write: a read and the write, each at its deadline."""
        return 2 * self.store_call_seconds

    @property
    def billed_part_seconds(self) -> float:
        """The billed part: the start call and the row's create at their deadlines, and ``START_MARGIN_SECONDS``
        (the budget check guarantees it and one more store call: :meth:`_guaranteed_seconds`)."""
        return self.client.settings.call_deadline + self.store_call_seconds + START_MARGIN_SECONDS

    def _guaranteed_seconds(self) -> float:
        """What the budget checks guarantee after the rate claim: the billed part and one more store call — the
        read-back of a create that may have been applied (found by review cc: at their deadlines the read-back was
        skipped, and a stored, billed start answered 503), or a keyed start's give-back of its key (review aa)."""
        return self.billed_part_seconds + self.store_call_seconds

    def start(
        self, owner: str, body: Any, *, budget: InvocationBudget | None = None, idempotency_key: str | None = None
    ) -> Started:
        """Start one verification for ``owner`` from a ``POST /verifications`` body; :class:`Refused` otherwise.
        ``budget``: the invocation's time (default: unbounded). ``idempotency_key``: already checked
        (:func:`shared.ids.idempotency_key`); see the module docstring."""
        budget = InvocationBudget.unbounded() if budget is None else budget
        if idempotency_key is None:
            product, fields = self.start_request(body, owner)
            return self._start(owner, product, fields, budget)
        earlier_ids = self._keyed_ids(owner, idempotency_key)
        product, fields = self.start_request(body, owner, merchant_biz_id=earlier_ids[0])
        fingerprint = request_fingerprint(body)
        for earlier_id in earlier_ids:
            earlier = self._read(earlier_id)
            if earlier is not None:
                return self._answer_again(earlier, owner, fingerprint)
        claim, holder = self._claim_key(owner, idempotency_key, budget)
        given_back = False

        def give_back_key() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self._give_back_key(claim, holder)

        try:
            return self._start(owner, product, fields, budget, fingerprint=fingerprint, before_release=give_back_key)
        except BaseException as exc:
            # The key goes back unless this start's row may be stored (its create may have been applied and the
            # read-back did not find it), or another's is: the claim must then outlive the row (an erasure must not
            # free its id).
            if not isinstance(exc, MaybeStored) and getattr(exc, "code", None) != "IdempotencyKeyReused":
                give_back_key()
            raise

    def _start(
        self, owner: str, product: products.Product, fields: dict[str, Any], budget: InvocationBudget, *,
        fingerprint: str | None = None, before_release: Callable[[], None] | None = None,
    ) -> Started:
        """Steps 2 to 5 of the module docstring. ``fingerprint``: a keyed start's (its row keeps it and the URL).
        ``before_release``: called before the rate slot is given back (a keyed start gives its key back first: the
        key's give-back has its time reserved, the slot's release runs only with time left; found by review bb)."""
        merchant_biz_id: str = fields["merchant_biz_id"]
        keyed = fingerprint is not None
        guaranteed = self._guaranteed_seconds()
        if budget.total < guaranteed:  # no invocation could ever start one: a setting, not a slow moment
            logger.error("initialize.timeout_too_short", extra={"functionTimeout": budget.total, "needs": guaranteed})
        if not budget.has(guaranteed):
            raise self._out_of_time()
        slot = self._claim_rate_slot(owner, another_round=lambda: budget.has(self.store_round_seconds + guaranteed))
        with log_context(merchant_biz_id=merchant_biz_id):
            if not budget.has(guaranteed):  # the claim took too long: FC could end us between the bill and the row
                self._release_rate_slot(slot, before_release, budget)
                raise self._out_of_time()
            try:
                response = self._call_start(product, fields)
            except NotBilled as exc:
                if not exc.counts:
                    self._release_rate_slot(slot, before_release, budget)
                raise
            now = self.clock()
            record = TransactionRecord(
                merchant_biz_id=merchant_biz_id,
                transaction_id=response.transaction_id,
                merchant_user_id=owner,
                doc_type=fields.get("doc_type") or "",  # "": the product verifies no document
                product_code=product.code,
                scene_code=fields["extra"].get("SceneCode"),
                status=Status.PENDING,
                callback_token_hash=hash_callback_token(fields["callback_token"]),
                created_at=now,
                updated_at=now,
                transaction_url=response.transaction_url if keyed else None,
                request_fingerprint=fingerprint,
            )
            try:
                self.store.create(record)
            except StorageError as exc:
                stored = self._read_back(record, exc, budget)
                if keyed and stored is not None and stored.transaction_id != record.transaction_id:
                    logger.warning("initialize.idempotent_race")  # this start's vendor transaction is left unused
                    return self._answer_again(stored, owner, fingerprint)
                if stored is None or stored.transaction_id != record.transaction_id:
                    # Without a stored row we could never match the callback: the caller gets no URL.
                    logger.error("initialize.store_failed", extra={"errorCode": exc.code})
                    may_be_there = exc.maybe_sent or isinstance(exc, RecordExists)
                    refusal = MaybeStored if may_be_there and stored is None else Refused
                    raise refusal("StorageUnavailable", "the verification could not be saved; try again") from None
                logger.warning("initialize.stored_despite_error", extra={"errorCode": exc.code})
            logger.info("initialize.created", extra={"productCode": product.code, "docType": record.doc_type})
        return Started(merchant_biz_id, response.transaction_id, response.transaction_url)

    def _release_rate_slot(
        self, slot: str | None, before: Callable[[], None] | None, budget: InvocationBudget
    ) -> None:
        """Give the rate slot back after ``before``, only with time for it (a read and a write): FC ending the
        invocation there would lose the refusal's answer; a slot kept only lowers the user's limit this hour."""
        if before is not None:
            before()
        if slot is None:
            return
        if not budget.has(self.store_round_seconds):
            logger.warning("initialize.slot_not_released")
            return
        release_slot(self.store, slot, on_error=lambda _: logger.warning("initialize.slot_not_released"),
                     another_round=lambda: budget.has(self.store_round_seconds))

    def get(self, owner: str, merchant_biz_id: str) -> TransactionRecord:
        """``owner``'s verification; ``NotFound`` for a malformed id, a missing row or someone else's row alike."""
        try:
            record = self.store.get(merchant_biz_id) if is_merchant_biz_id(merchant_biz_id) else None
        except StorageError:
            raise Refused("StorageUnavailable", "try again shortly") from None
        if record is None or record.status is Status.ERASED or not hmac.compare_digest(
            record.merchant_user_id, owner
        ):
            # Someone else's verification, or an erased one (its tombstone), answers exactly like a missing one.
            raise Refused("NotFound", "no such verification")
        return record

    # -- steps ----------------------------------------------------------------------------------------------

    def _read_back(
        self, record: TransactionRecord, exc: StorageError, budget: InvocationBudget
    ) -> TransactionRecord | None:
        """The row a failed create left in the table, if any: a write that may have been applied although its
        answer was lost (``maybe_sent``), or a row a retry found already there (``RecordExists``: a random
        merchantBizId is new, so only this start's own earlier attempt can have written it; a keyed one may also
        be another start's with the same key). Read once; this start's own row (its TransactionId) is the
        verification the vendor billed, and refusing the start would leave it behind a 503 (the user starts and
        pays again; the sweeper abandons the first). Its time is part of what the start's budget check guarantees
        (:meth:`_guaranteed_seconds`), the margin included: the read needs only its own deadline here (found by
        review ee: it asked for the margin again, already spent on the start's work). A read that fails too, or that
        the invocation has no time left for (FC must not end the invocation before it answers), gives None: the
        refusal stands, and the sweeper abandons a row nobody opened."""
        if not (exc.maybe_sent or isinstance(exc, RecordExists)) or not budget.has(self.store_call_seconds):
            return None
        try:
            return self.store.get(record.merchant_biz_id)
        except StorageError:
            return None

    def _keyed_ids(self, owner: str, key: str) -> list[str]:
        """The ids a start keyed ``key`` may have been stored under, its own (this UTC day's) first: the day
        before's (a repeat the next day), and the next day's when this instance may be behind the one that served
        the first (its clock past midnight, this one's not yet)."""
        now = self.clock()
        window = int(now // IDEMPOTENCY_WINDOW_SECONDS)
        near_next = (window + 1) * IDEMPOTENCY_WINDOW_SECONDS - now <= IDEMPOTENCY_CLOCK_SKEW_SECONDS
        windows = (window, window - 1, window + 1) if near_next else (window, window - 1)
        return [merchant_biz_id_for_key(owner, key, w, self.settings.user_id_pepper) for w in windows]

    def _claim_key(self, owner: str, key: str, budget: InvocationBudget) -> tuple[str, str]:
        """Claim ``owner``'s ``key`` for this start before anything is billed; the claim's key and holder.
        ``IdempotencyKeyInUse`` (409) when another start holds it: one in flight, or one whose row is gone (erased,
        or never stored: a crash) while the claim lasts (see the module docstring)."""
        claim, holder = idempotency_claim_key(owner, key, self.settings.user_id_pepper), os.urandom(16).hex()
        now = self.clock()
        expires_at = float((int(now // IDEMPOTENCY_WINDOW_SECONDS) + 2) * IDEMPOTENCY_WINDOW_SECONDS)
        # Each round of the claim only with time for it and the rest (a rate claim's round, the guaranteed part):
        # FC ending the invocation between the claim and its give-back would hold the key for a day.
        another_round = 2 * self.store_round_seconds + self._guaranteed_seconds()
        if not budget.has(another_round):
            raise self._out_of_time()
        try:
            claimed = self.store.take_claim(claim, holder, expires_at, now,
                                            another_round=lambda: budget.has(another_round))
        except StorageError as exc:
            # A failed take may have been applied all the same: an answer lost, the service timing out on its write
            # (review z), or a round's write re-sent by the SDK before the rounds ran out of time (OutOfTime, review
            # aa). The give-back frees the claim only if so, never another start's; should it fail too, the key is
            # held until the claim lapses.
            self._give_back_key(claim, holder, unconfirmed=True)
            if isinstance(exc, OutOfTime):
                raise self._out_of_time() from None
            raise Refused("StorageUnavailable", "try again shortly") from None
        if not claimed:
            logger.info("initialize.key_in_use")
            raise _key_in_use()
        return claim, holder

    def _give_back_key(self, claim: str, holder: str, *, unconfirmed: bool = False) -> None:
        """Free this start's claim (best effort). ``unconfirmed``: the take failed, so a failed give-back may leave
        the key held until the claim lapses (``initialize.key_claim_unconfirmed``)."""
        try:
            self.store.give_back_claim(claim, holder)
        except Exception:
            logger.warning("initialize.key_claim_unconfirmed" if unconfirmed else "initialize.key_not_released")

    def _read(self, merchant_biz_id: str) -> TransactionRecord | None:
        try:
            return self.store.get(merchant_biz_id)
        except StorageError:
            raise Refused("StorageUnavailable", "try again shortly") from None

    @staticmethod
    def _answer_again(earlier: TransactionRecord, owner: str, fingerprint: str | None) -> Started:
        """The answer of the keyed start ``earlier`` stored, for a repeat of it (same owner, same request)."""
        # The id is derived from the owner's hash: another owner's row there would be a hash collision, refused too.
        same_owner = hmac.compare_digest(earlier.merchant_user_id, owner)
        if same_owner and earlier.status is Status.ERASED:  # erased: gone, as a deleted row's key answers
            raise _key_in_use()
        if not same_owner or earlier.transaction_url is None or earlier.request_fingerprint != fingerprint:
            raise Refused("IdempotencyKeyReused", "this Idempotency-Key was used with another request")
        logger.info("initialize.answered_again")
        return Started(earlier.merchant_biz_id, earlier.transaction_id, earlier.transaction_url, replayed=True)

    def start_request(
        self, body: Any, owner: str, *, merchant_biz_id: str | None = None
    ) -> tuple[products.Product, dict[str, Any]]:
        """The product a request body asks for and the fields of its start request (``merchant_biz_id``, else a new
        one, a callback URL and a new token); the fields are those :data:`START_CALLS` pass to either request
        type."""
        if not isinstance(body, dict):
            raise Refused("InvalidJson", "the body must be a JSON object")
        product = self.offer.product(body.get("productCode"))
        switches = switches_for(product)
        deployment_only = sorted(name for name in body if name in ASSURANCE_SWITCHES)
        if deployment_only:  # the browser belongs to the person being verified: it never sets how strict the check is
            raise Refused("InvalidParameter", f"{', '.join(deployment_only)}: set by the deployment "
                          "(KYC_VENDOR_SWITCHES), never by a request: it decides how strict the verification is")
        unknown = sorted(set(body) - REQUEST_FIELDS - switches.by_api_name.keys())
        refused = [name for name in unknown if name in SWITCHES_BY_NAME]
        if refused:  # a switch of another product: say so rather than "unknown"
            raise Refused("InvalidParameter", f"{product.code} does not take {', '.join(refused)}")
        if unknown:
            raise Refused("UnknownField", f"unknown field(s): {', '.join(unknown)[:200]}")
        doc_type = self._doc_type(product, body.get("docType"))
        meta_info = body.get("metaInfo")
        if isinstance(meta_info, dict):
            meta_info = jsonutil.dumps_str(meta_info)
        if meta_info is not None and not isinstance(meta_info, str):
            raise Refused("InvalidParameter", "metaInfo must be a string or a JSON object")
        if not meta_info or meta_info.isspace():
            raise Refused("MissingParameter", "metaInfo is required (from the vendor's web SDK getMetaInfo())")
        if len(meta_info.encode()) > self.settings.max_meta_info_bytes:
            raise Refused("PayloadTooLarge", "metaInfo is larger than allowed")
        return_url = body.get("returnUrl", self.settings.return_url_allowlist[0])
        if not isinstance(return_url, str):
            raise Refused("InvalidReturnUrl", "returnUrl must be a string")
        if unsafe_character_at(return_url) is not None:
            # Before the allowlist: urlsplit drops TAB/CR/LF, the raw string is what the browser is sent back to.
            raise Refused("InvalidReturnUrl", "returnUrl contains a control, space, invisible or backslash character")
        if not return_url_allowed(return_url, self.settings.return_url_allowlist):
            raise Refused("ReturnUrlNotAllowed", "returnUrl does not start with a prefix the deployment allows "
                          "(KYC_RETURN_URL_ALLOWLIST)")
        merchant_biz_id = merchant_biz_id or new_merchant_biz_id()
        return product, {
            "merchant_biz_id": merchant_biz_id,
            "meta_info": meta_info,
            "merchant_user_id": owner,
            "return_url": return_url,
            "product_code": product.code,
            "doc_type": doc_type,
            "callback_url": callback_url(self.settings.public_url, merchant_biz_id),
            "callback_token": new_callback_token(),
            "extra": {**self._deployment_switches(switches), **self._switch_parameters(switches, body)},
        }

    def _doc_type(self, product: products.Product, doc_type: Any) -> str | None:
        """``docType`` by the product's rule (:mod:`shared.products`): required and one of its codes in the region,
        or refused when the product verifies no document."""
        if product.doc_type is products.DocTypeUse.NOT_ACCEPTED:
            if doc_type is not None:
                raise Refused("InvalidParameter", f"{product.code} verifies no document: docType is not accepted")
            return None
        if doc_type is None and product.doc_type is not products.DocTypeUse.REQUIRED:
            return None
        if doc_type is not None and not isinstance(doc_type, str):
            raise Refused("InvalidParameter", "docType must be a string (a document type code)")
        if not doc_type:
            raise Refused("MissingParameter", f"docType is required by {product.code} (GET /verifications/products)")
        if product.doc_types is not None:
            problem = product.doc_types.problem(
                doc_type, self.offer.region, allow_undocumented=self.offer.allow_undocumented_doc_types
            )
            if problem is not None:
                raise Refused("InvalidParameter", f"docType {problem} ({product.code}; GET /verifications/products)")
        return doc_type

    def _deployment_switches(self, switches: Switches) -> dict[str, str]:
        """The vendor parameters of the deployment's switches that the product takes (a request's own override
        the others)."""
        chosen = self.settings.vendor_switches
        return {s.parameter: chosen[s.api_name] for s in switches if s.api_name in chosen}

    @staticmethod
    def _switch_parameters(switches: Switches, body: Mapping[str, Any]) -> dict[str, str]:
        """The vendor parameters of the switches set in ``body`` (never an assurance switch: refused before), each
        checked by the vendor's rule; ``InvalidParameter`` names the switch as the request spelled it."""
        parameters: dict[str, str] = {}
        for switch in switches:
            value = body.get(switch.api_name)
            if value is None:
                continue
            try:
                parameters[switch.parameter] = _checked_switch(switch, value)
            except ValueError as exc:
                raise Refused("InvalidParameter", str(exc)) from None
        return parameters

    @staticmethod
    def _out_of_time() -> Refused:
        """Nothing was started: the time left could not cover the billed part (the count is given back if time
        allows)."""
        logger.warning("initialize.out_of_time")
        return Refused(
            "TryAgain", "the verification could not be started in time; nothing was started, try again",
            retry_after=TRY_AGAIN_AFTER_SECONDS,
        )

    def _claim_rate_slot(self, owner: str, *, another_round: Callable[[], bool] | None = None) -> str | None:
        """Count one of the owner's ``limit`` verifications this hour, atomically (a parallel burst cannot
        overshoot); ``RateLimited`` when all are counted, ``TryAgain`` when ``another_round`` refused a retry of
        a lost race. None when the limit is off."""
        limit = self.settings.rate_limit_per_hour
        if limit <= 0:
            return None
        now = self.clock()
        try:
            slot = claim_slot(self.store, owner, limit, now, another_round=another_round)
        except OutOfTime:
            raise self._out_of_time() from None
        except StorageError:
            raise Refused("StorageUnavailable", "try again shortly") from None
        if slot is None:
            logger.warning("initialize.rate_limited")
            retry_after = int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1
            raise Refused("RateLimited", f"at most {limit} verifications per hour", retry_after=retry_after)
        return slot

    def _call_start(self, product: products.Product, fields: dict[str, Any]) -> InitializeResponse:
        try:
            return START_CALLS[product.start_operation or ""](self.client, fields)
        except ParameterError as exc:  # the client's own check (no HTTP status), or the vendor's answer
            # MissingParameter or InvalidParameter, as the check or the vendor named it (openapi.yaml lists both)
            raise NotBilled(exc.code or "InvalidParameter", exc.message, counts=exc.status is not None) from None
        except ThrottlingError as exc:
            # Throttling is the account's load, not the user's doing: the slot goes back. The vendor refusing repeated
            # failing calls (Forbidden.ExceptionRepeatedInvoke) is a refusal of the caller's calls: it counts, as a
            # refused parameter does (review ap: else a user in that state calls Initialize without any bound).
            raise NotBilled("VendorBusy", "the verification service is busy; try again",
                            counts=isinstance(exc, RepeatedFailuresLimited), retry_after=2) from None
        except AuthError as exc:
            # The gateway refused our signature, AccessKey, STS token or RAM policy: nothing started, and the
            # deployment's doing, not the user's (the slot goes back, or an outage of the credentials would lock out
            # every user who tried during it for the rest of the hour).
            logger.error("initialize.vendor_auth_failed", extra={"errorCode": exc.code})
            raise NotBilled("VendorError", "the verification service refused our credentials", counts=False) from None
        except TransportError as exc:
            logger.error("initialize.vendor_unreachable", extra={"maybeSent": exc.maybe_sent})
            message = "the verification service did not answer; try again"
            if exc.maybe_sent:
                raise Refused("VendorUnavailable", message) from None
            raise NotBilled("VendorUnavailable", message, counts=False) from None
        except CloudAuthError as exc:
            logger.error("initialize.vendor_error", extra={"errorCode": exc.code, "status": exc.status})
            if exc.status == 400:
                raise Refused("VendorRejected", f"the verification service rejected the request: {exc.code}") from None
            raise Refused("VendorError", "the verification service failed; try again") from None
