"""Starting a verification and showing it to its owner: the initializer's service, whatever the access path.

:meth:`Verifications.start`, in this order of effects:

1. the request is checked and built (nothing is stored or sent yet): our fields, the switches of
   :data:`~shared.cloudauth.switches.INITIALIZE_SWITCHES`, a new merchantBizId, the callback URL and token;
2. the start is counted against the owner's hourly limit with one conditional write to their counter
   (:mod:`shared.ratelimit`; 429 when the limit is reached);
3. ``Initialize`` is called once, never retried once it may have reached the vendor (each one is billed); when the
   vendor certainly did nothing the count is given back;
4. the PENDING row is stored (conditional create) before anyone learns the URL: without the row the callback could
   never be matched, so a failed write refuses the start (no URL) — the vendor's transaction is then left unused.

Every refusal is a :class:`Refused` with a machine-readable code and a message without PII or secrets; the access
path (``shared.handlers.initializer``) maps codes to HTTP statuses. The caller is already authenticated: ``owner``
is the peppered hash of the merchant's user id (:func:`shared.auth.hash_user_id`), never the id itself.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared import jsonutil
from shared.callback import callback_url, hash_callback_token, new_callback_token
from shared.cloudauth import (
    INITIALIZE_SWITCHES,
    AuthError,
    CloudAuthClient,
    CloudAuthError,
    InitializeRequest,
    InitializeResponse,
    ParameterError,
    Switches,
    ThrottlingError,
    TransportError,
)
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
)
from shared.doctypes import DOC_TYPES
from shared.ids import is_merchant_biz_id
from shared.log import get_logger, log_context, register_secret
from shared.ratelimit import WINDOW_SECONDS, claim_slot, release_slot
from shared.status import Status
from shared.storage import RecordExists, StorageError, TransactionRecord, TransactionStore

logger = get_logger("kyc.initializer")

#: Fields of ``POST /verifications`` besides the switches.
REQUEST_FIELDS = frozenset({"docType", "metaInfo", "returnUrl"})


@dataclass(frozen=True)
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

    @classmethod
    def from_env(cls, env: Env | None = None) -> FrontendSettings:
        env = environ() if env is None else env
        # Secrets are scrubbed from logs as soon as they are read, before any check can fail.
        for previous_secret in env_list(env, "KYC_JWT_PREVIOUS_SECRETS"):
            register_secret(previous_secret)
        register_secret(env_str(env, "KYC_JWT_SECRET"))
        register_secret(env_str(env, "KYC_USER_ID_PEPPER"))
        public_url = http_url("KYC_PUBLIC_URL", env_required(env, "KYC_PUBLIC_URL")).rstrip("/")
        if is_aliyun_backend(env) and not public_url.startswith("https://"):
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
            http_url("KYC_RETURN_URL_ALLOWLIST", prefix)
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


class Refused(Exception):
    """A verification was not started (or is not shown). ``code`` is machine-readable, ``message`` is for people
    (names fields, never values); ``retry_after`` (seconds) when trying again later will help."""

    log_safe = True

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class NotBilled(Refused):
    """An Initialize failure after which the vendor certainly created no (billed) transaction."""


class Started:
    """A started verification: where to send the user."""

    __slots__ = ("merchant_biz_id", "transaction_id", "transaction_url")

    def __init__(self, merchant_biz_id: str, transaction_id: str, transaction_url: str) -> None:
        self.merchant_biz_id = merchant_biz_id
        self.transaction_id = transaction_id
        self.transaction_url = transaction_url

    def view(self) -> dict[str, str]:
        return {
            "merchantBizId": self.merchant_biz_id,
            "transactionId": self.transaction_id,
            "transactionUrl": self.transaction_url,
        }


def return_url_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """Prefix match on a normalised URL; the prefix must end at a path boundary so that an allowed
    ``https://shop.example`` does not admit ``https://shop.example.evil.com``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unterminated IPv6 literal
        return False
    if parts.scheme not in {"http", "https"} or not parts.netloc or "@" in parts.netloc or "\\" in url:
        return False
    for prefix in allowlist:
        if url == prefix or (url.startswith(prefix) and (prefix.endswith("/") or url[len(prefix)] in "/?#")):
            return True
    return False


def verification_view(record: TransactionRecord) -> dict[str, Any]:
    """What the owner's frontend may see: status and masked identity, never PII."""
    doc = DOC_TYPES.get(record.doc_type or "")
    return {
        "merchantBizId": record.merchant_biz_id,
        "transactionId": record.transaction_id,
        "status": record.status,
        "passed": record.passed,
        "subCode": record.sub_code,
        "docType": record.doc_type,
        "docTypeName": doc.name if doc else None,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "finalizedAt": record.finalized_at,
        "identity": record.identity_masked,
    }


class Verifications:
    """Start verifications through ``Initialize`` and show them to their owners. Thread-safe."""

    def __init__(
        self,
        *,
        settings: FrontendSettings,
        client: CloudAuthClient,
        store: TransactionStore,
        clock: Callable[[], float] = time.time,
        switches: Switches = INITIALIZE_SWITCHES,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.clock = clock
        self.switches = switches
        self.fields = REQUEST_FIELDS | switches.by_api_name.keys()

    def start(self, owner: str, body: Any) -> Started:
        """Start one verification for ``owner`` from a ``POST /verifications`` body; :class:`Refused` otherwise."""
        request = self.initialize_request(body, owner)
        slot = self._claim_rate_slot(owner)
        with log_context(merchant_biz_id=request.merchant_biz_id):
            try:
                response = self._call_initialize(request)
            except NotBilled:
                if slot is not None:  # nothing was billed: the attempt does not count against the user's limit
                    release_slot(self.store, slot, on_error=lambda _: logger.warning("initialize.slot_not_released"))
                raise
            now = self.clock()
            record = TransactionRecord(
                merchant_biz_id=request.merchant_biz_id,
                transaction_id=response.transaction_id,
                merchant_user_id=owner,
                doc_type=request.doc_type,
                scene_code=request.extra.get("SceneCode"),
                status=Status.PENDING,
                callback_token_hash=hash_callback_token(request.callback_token or ""),
                created_at=now,
                updated_at=now,
            )
            try:
                self.store.create(record)
            except (StorageError, RecordExists) as exc:
                # Without a stored row we could never match the callback: the caller gets no URL.
                logger.error("initialize.store_failed", extra={"errorCode": type(exc).__name__})
                raise Refused("StorageUnavailable", "the verification could not be saved; try again") from None
            logger.info("initialize.created", extra={"docType": request.doc_type})
        return Started(request.merchant_biz_id, response.transaction_id, response.transaction_url)

    def get(self, owner: str, merchant_biz_id: str) -> TransactionRecord:
        """``owner``'s verification; ``NotFound`` for a malformed id, a missing row or someone else's row alike."""
        try:
            record = self.store.get(merchant_biz_id) if is_merchant_biz_id(merchant_biz_id) else None
        except StorageError:
            raise Refused("StorageUnavailable", "try again shortly") from None
        if record is None or not secrets.compare_digest(record.merchant_user_id, owner):
            # Someone else's verification answers exactly like a missing one.
            raise Refused("NotFound", "no such verification")
        return record

    # -- steps ----------------------------------------------------------------------------------------------

    def initialize_request(self, body: Any, owner: str) -> InitializeRequest:
        """The Initialize call a request body asks for (a new merchantBizId, callback URL and token each time)."""
        if not isinstance(body, dict):
            raise Refused("InvalidJson", "the body must be a JSON object")
        unknown = sorted(set(body) - self.fields)
        if unknown:
            raise Refused("UnknownField", f"unknown field(s): {', '.join(unknown)[:200]}")
        doc_type = body.get("docType")
        if not isinstance(doc_type, str) or not doc_type:
            raise Refused("MissingParameter", "docType is required (e.g. 01000000 for a passport)")
        meta_info = body.get("metaInfo")
        if isinstance(meta_info, dict):
            meta_info = jsonutil.dumps_str(meta_info)
        if not isinstance(meta_info, str) or not meta_info:
            raise Refused("MissingParameter", "metaInfo is required (from the vendor's web SDK getMetaInfo())")
        if len(meta_info.encode()) > self.settings.max_meta_info_bytes:
            raise Refused("PayloadTooLarge", "metaInfo is larger than allowed")
        return_url = body.get("returnUrl", self.settings.return_url_allowlist[0])
        if not isinstance(return_url, str) or not return_url_allowed(return_url, self.settings.return_url_allowlist):
            raise Refused("ReturnUrlNotAllowed", "returnUrl is not in the allowed list")
        merchant_biz_id = uuid.uuid4().hex
        return InitializeRequest(
            merchant_biz_id=merchant_biz_id,
            meta_info=meta_info,
            merchant_user_id=owner,
            return_url=return_url,
            doc_type=doc_type,
            callback_url=callback_url(self.settings.public_url, merchant_biz_id),
            callback_token=new_callback_token(),
            extra=self._switch_parameters(body),
        )

    def _switch_parameters(self, body: Mapping[str, Any]) -> dict[str, str]:
        """The vendor parameters of the switches set in ``body``; their values are checked by the client."""
        parameters: dict[str, str] = {}
        for switch in self.switches:
            value = body.get(switch.api_name)
            if value is None:
                continue
            if switch.json_object and isinstance(value, dict):
                value = jsonutil.dumps_str(value)
            if not isinstance(value, str):
                raise Refused("InvalidParameter", f"{switch.api_name} must be a string")
            parameters[switch.parameter] = value
        return parameters

    def _claim_rate_slot(self, owner: str) -> str | None:
        """Count one of the owner's ``limit`` verifications this hour, atomically (a parallel burst cannot
        overshoot); ``RateLimited`` when all are counted. None when the limit is off."""
        limit = self.settings.rate_limit_per_hour
        if limit <= 0:
            return None
        now = self.clock()
        try:
            slot = claim_slot(self.store, owner, limit, now)
        except StorageError:
            raise Refused("StorageUnavailable", "try again shortly") from None
        if slot is None:
            logger.warning("initialize.rate_limited")
            retry_after = int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1
            raise Refused("RateLimited", f"at most {limit} verifications per hour", retry_after=retry_after)
        return slot

    def _call_initialize(self, request: InitializeRequest) -> InitializeResponse:
        try:
            return self.client.initialize(request)
        except ParameterError as exc:
            raise NotBilled("InvalidParameter", exc.message) from None
        except ThrottlingError:
            raise NotBilled("VendorBusy", "the verification service is busy; try again", retry_after=2) from None
        except AuthError as exc:
            logger.error("initialize.vendor_auth_failed", extra={"errorCode": exc.code})
            raise Refused("VendorError", "the verification service refused our credentials") from None
        except TransportError as exc:
            logger.error("initialize.vendor_unreachable", extra={"maybeSent": exc.maybe_sent})
            refusal = Refused if exc.maybe_sent else NotBilled
            raise refusal("VendorUnavailable", "the verification service did not answer; try again") from None
        except CloudAuthError as exc:
            logger.error("initialize.vendor_error", extra={"errorCode": exc.code, "status": exc.status})
            if exc.status == 400:
                raise Refused("VendorRejected", f"the verification service rejected the request: {exc.code}") from None
            raise Refused("VendorError", "the verification service failed; try again") from None
