"""The initializer function: ``POST /verifications`` starts a verification, ``GET /verifications/{id}`` reports it."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from shared import jsonutil
from shared.auth import bearer_token, hash_user_id, verify_token
from shared.callback import callback_url, hash_callback_token, new_callback_token
from shared.cloudauth import (
    AuthError,
    CloudAuthClient,
    CloudAuthError,
    InitializeRequest,
    ParameterError,
    ThrottlingError,
    TransportError,
)
from shared.config import CloudAuthSettings
from shared.doctypes import DOC_TYPES
from shared.fc import HttpError, HttpEvent, Router, http_response
from shared.handlers import register_config_secrets
from shared.ids import is_merchant_biz_id
from shared.log import get_logger, log_context
from shared.ratelimit import WINDOW_SECONDS, claim_slot, release_slot
from shared.settings import FrontendSettings
from shared.storage import (
    RecordExists,
    StorageError,
    StorageSettings,
    TransactionRecord,
    TransactionStore,
    open_transaction_store,
)

logger = get_logger("kyc.initializer")

# The vendor's optional switches a frontend may set, by their camelCase name in our API. Parameters that carry
# trust (CallbackUrl, CallbackToken, MerchantBizId, MerchantUserId, ReturnUrl) are never taken from a request.
SWITCHES = {
    "sceneCode": "SceneCode",
    "idSpoof": "IdSpoof",
    "authorize": "Authorize",
    "securityLevel": "SecurityLevel",
    "idThreshold": "IdThreshold",
    "model": "Model",
    "docVideo": "DocVideo",
    "showAlbumIcon": "ShowAlbumIcon",
    "showOcrResult": "ShowOcrResult",
    "showGuidePage": "ShowGuidePage",
    "editOcrResult": "EditOcrResult",
    "docScanMode": "DocScanMode",
    "productFlow": "ProductFlow",
    "pages": "Pages",
    "procedurePriority": "ProcedurePriority",
    "useNfc": "UseNFC",
    "languageConfig": "LanguageConfig",
    "styleConfig": "StyleConfig",
}
KNOWN_FIELDS = frozenset({"docType", "metaInfo", "returnUrl", *SWITCHES})


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


class NotBilled(HttpError):
    """An Initialize failure after which the vendor certainly created no (billed) transaction."""


class InitializerApp:
    def __init__(
        self,
        *,
        settings: FrontendSettings,
        client: CloudAuthClient,
        store: TransactionStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.clock = clock
        self.router = Router(cors_origins=settings.cors_origins, on_error=self._on_error)
        self.router.route("POST", "/verifications")(self.start_verification)
        self.router.route("GET", "/verifications/{merchant_biz_id}")(self.get_verification)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InitializerApp:
        register_config_secrets(env)
        settings = FrontendSettings.from_env(env)
        storage = StorageSettings.from_env(env)
        return cls(
            settings=settings,
            client=CloudAuthClient(CloudAuthSettings.from_env(env)),
            store=open_transaction_store(storage),
        )

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        request_id = getattr(context, "request_id", None)
        with log_context(request_id=request_id):
            return self.router.dispatch(event)

    # -- routes ---------------------------------------------------------------------------------------------

    def _user(self, event: HttpEvent) -> str:
        """The caller's hashed user id; :class:`AuthFailed` (401) for a missing or bad token."""
        token = bearer_token(event.headers)
        secrets_ = (self.settings.jwt_secret, *self.settings.jwt_previous_secrets)
        claims = verify_token(token, secrets_, leeway=self.settings.jwt_leeway_seconds)
        return hash_user_id(claims.sub, self.settings.user_id_pepper)

    def start_verification(self, event: HttpEvent) -> dict[str, Any]:
        user = self._user(event)
        body = event.json(max_bytes=self.settings.max_body_bytes)
        request = self._initialize_request(body, user)
        slot = self._claim_rate_slot(user)
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
                merchant_user_id=user,
                doc_type=request.doc_type,
                scene_code=request.extra.get("SceneCode"),
                status="PENDING",
                callback_token_hash=hash_callback_token(request.callback_token or ""),
                created_at=now,
                updated_at=now,
            )
            try:
                self.store.create(record)
            except (StorageError, RecordExists) as exc:
                # Without a stored row we could never match the callback: the caller gets no URL.
                logger.error("initialize.store_failed", extra={"errorCode": type(exc).__name__})
                raise HttpError(503, "StorageUnavailable", "the verification could not be saved; try again") from None
            logger.info("initialize.created", extra={"docType": request.doc_type})
        return http_response(
            201,
            {
                "merchantBizId": request.merchant_biz_id,
                "transactionId": response.transaction_id,
                "transactionUrl": response.transaction_url,
            },
        )

    def get_verification(self, event: HttpEvent, merchant_biz_id: str) -> dict[str, Any]:
        user = self._user(event)
        try:
            record = self.store.get(merchant_biz_id) if is_merchant_biz_id(merchant_biz_id) else None
        except StorageError:
            raise HttpError(503, "StorageUnavailable", "try again shortly") from None
        if record is None or not secrets.compare_digest(record.merchant_user_id, user):
            # Someone else's verification answers exactly like a missing one.
            raise HttpError(404, "NotFound", "no such verification")
        return http_response(200, verification_view(record))

    # -- helpers --------------------------------------------------------------------------------------------

    def _initialize_request(self, body: Any, user: str) -> InitializeRequest:
        if not isinstance(body, dict):
            raise HttpError(400, "InvalidJson", "the body must be a JSON object")
        unknown = sorted(set(body) - KNOWN_FIELDS)
        if unknown:
            raise HttpError(400, "UnknownField", f"unknown field(s): {', '.join(unknown)[:200]}")
        doc_type = body.get("docType")
        if not isinstance(doc_type, str) or not doc_type:
            raise HttpError(400, "MissingParameter", "docType is required (e.g. 01000000 for a passport)")
        meta_info = body.get("metaInfo")
        if isinstance(meta_info, dict):
            meta_info = jsonutil.dumps_str(meta_info)
        if not isinstance(meta_info, str) or not meta_info:
            raise HttpError(400, "MissingParameter", "metaInfo is required (from the vendor's web SDK getMetaInfo())")
        if len(meta_info.encode()) > self.settings.max_meta_info_bytes:
            raise HttpError(413, "PayloadTooLarge", "metaInfo is larger than allowed")
        return_url = body.get("returnUrl", self.settings.return_url_allowlist[0])
        if not isinstance(return_url, str) or not return_url_allowed(return_url, self.settings.return_url_allowlist):
            raise HttpError(400, "ReturnUrlNotAllowed", "returnUrl is not in the allowed list")
        extra: dict[str, str] = {}
        for field_name, vendor_name in SWITCHES.items():
            value = body.get(field_name)
            if value is None:
                continue
            if field_name == "styleConfig" and isinstance(value, dict):
                value = jsonutil.dumps_str(value)
            if not isinstance(value, str):
                raise HttpError(400, "InvalidParameter", f"{field_name} must be a string")
            extra[vendor_name] = value
        merchant_biz_id = uuid.uuid4().hex
        request = InitializeRequest(
            merchant_biz_id=merchant_biz_id,
            meta_info=meta_info,
            merchant_user_id=user,
            return_url=return_url,
            doc_type=doc_type,
            callback_url=callback_url(self.settings.public_url, merchant_biz_id),
            callback_token=new_callback_token(),
            extra=extra,
        )
        return request

    def _claim_rate_slot(self, user: str) -> str | None:
        """One of the user's ``limit`` slots for this hour, claimed atomically (a parallel burst cannot
        overshoot); 429 when none is free. None when the limit is off."""
        limit = self.settings.rate_limit_per_hour
        if limit <= 0:
            return None
        now = self.clock()
        try:
            started = self.store.count_created_by_user_since(user, now - now % WINDOW_SECONDS)
            slot = claim_slot(self.store, user, limit, now, hint=started)
        except StorageError:
            raise HttpError(503, "StorageUnavailable", "try again shortly") from None
        if slot is None:
            logger.warning("initialize.rate_limited")
            retry_after = str(int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1)
            raise HttpError(
                429, "RateLimited", f"at most {limit} verifications per hour", headers={"retry-after": retry_after}
            )
        return slot

    def _call_initialize(self, request: InitializeRequest) -> Any:
        try:
            return self.client.initialize(request)
        except ParameterError as exc:
            raise NotBilled(400, "InvalidParameter", exc.message) from None
        except ThrottlingError:
            message = "the verification service is busy; try again"
            raise NotBilled(503, "VendorBusy", message, headers={"retry-after": "2"}) from None
        except AuthError as exc:
            logger.error("initialize.vendor_auth_failed", extra={"errorCode": exc.code})
            raise HttpError(502, "VendorError", "the verification service refused our credentials") from None
        except TransportError as exc:
            logger.error("initialize.vendor_unreachable", extra={"maybeSent": exc.maybe_sent})
            error_class = HttpError if exc.maybe_sent else NotBilled
            raise error_class(502, "VendorUnavailable", "the verification service did not answer; try again") from None
        except CloudAuthError as exc:
            logger.error("initialize.vendor_error", extra={"errorCode": exc.code, "status": exc.status})
            if exc.status == 400:
                message = f"the verification service rejected the request: {exc.code}"
                raise HttpError(400, "VendorRejected", message) from None
            raise HttpError(502, "VendorError", "the verification service failed; try again") from None

    def _on_error(self, exc: BaseException) -> None:
        logger.error("initializer.unhandled", exc_info=exc)


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
