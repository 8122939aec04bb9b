"""Request authentication as the Alibaba Cloud API gateway does it: ACS3-HMAC-SHA256 (V3) and RPC HMAC-SHA1 (V1).

What the official SDK (alibabacloud-tea-openapi 0.4.6) sends, read from its source:

* V3 (default, ``Client.do_request``): ``POST /`` with the business parameters in the query string (form-encoded
  with ``+`` for spaces), ``FacePictureBase64`` in an ``application/x-www-form-urlencoded`` body; headers ``host``,
  ``x-acs-action``, ``x-acs-version``, ``x-acs-date``, ``x-acs-signature-nonce``, ``x-acs-content-sha256``,
  ``user-agent``, ``accept`` (and ``content-type`` with a body; ``x-acs-accesskey-id`` + ``x-acs-security-token``
  with STS). It signs *every* header it sends, so the server must recompute with the list named in SignedHeaders.
* V1 (``Config(signature_algorithm='v2')``, ``Client.do_rpcrequest``): ``POST /`` with ``Action``, ``Format=json``,
  ``Version``, ``Timestamp``, ``SignatureNonce``, ``SignatureMethod=HMAC-SHA1``, ``SignatureVersion=1.0``,
  ``AccessKeyId`` (+ ``SecurityToken``) and ``Signature`` in the query next to the business parameters; the form
  body's parameters are part of the signed parameter set; ``x-acs-action``/``x-acs-version`` headers are sent too.

Both signatures are verified from the vendor's pages, not with the client's signer (:mod:`shared.signing`), so a
mistake in that signer is refused here too: V3 with :mod:`tools.acs3`, V1 with :mod:`tools.rpc_v1`.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tools import acs3, rpc_v1
from tools.sandbox.config import SandboxConfig
from tools.sandbox.errors import VendorError

API_VERSION = "2022-08-09"
V1_COMMON = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "Timestamp",
        "SecurityToken",
        "Signature",
        "RegionId",
    }
)


#: The gateway's answer to each ACS3 refusal (code, message or ``None`` for the code's own; ``{detail}``: what
#: :class:`tools.acs3.Refused` names). A signature mismatch echoes the server's string to sign, as the gateway does.
_REFUSALS: dict[acs3.Problem, tuple[str, str | None]] = {
    acs3.Problem.OTHER_ALGORITHM: ("IncompleteSignature", f"Only {acs3.ALGORITHM} is supported."),
    acs3.Problem.INCOMPLETE: ("IncompleteSignature", "Authorization needs Credential, SignedHeaders and Signature."),
    acs3.Problem.UNSIGNED_HEADERS: ("IncompleteSignature", "Header not signed: {detail}."),
    acs3.Problem.ABSENT_HEADERS: ("IncompleteSignature", "Signed header missing from the request: {detail}."),
    acs3.Problem.PAYLOAD_HASH: ("SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the body."),
    acs3.Problem.SIGNATURE: (
        "SignatureDoesNotMatch",
        "Specified signature does not match our calculation. server string to sign is:" + acs3.ALGORITHM + "\n{detail}",
    ),
    acs3.Problem.TIMESTAMP_FORMAT: ("InvalidTimeStamp.Format", None),
    acs3.Problem.TIMESTAMP_SKEWED: ("InvalidTimeStamp.Expired", None),
}


#: The gateway's answer to each V1 refusal, as ``_REFUSALS``. A signature mismatch echoes the server's string to sign,
#: parameter values included, as the gateway is widely reported to do ("server string to sign is:POST&%2F&..."; not
#: on the vendor's page: unverified). An empty Signature as IncompleteSignature is unverified too.
_V1_REFUSALS: dict[rpc_v1.Problem, tuple[str, str | None]] = {
    rpc_v1.Problem.OTHER_METHOD: ("InvalidSignatureMethod", None),
    rpc_v1.Problem.OTHER_VERSION: ("InvalidParameter", 'The specified parameter "SignatureVersion" is not valid.'),
    rpc_v1.Problem.INCOMPLETE: ("IncompleteSignature", "The Signature parameter is empty."),
    rpc_v1.Problem.SIGNATURE: (
        "SignatureDoesNotMatch", "Specified signature does not match our calculation. server string to sign is:{detail}"
    ),
}


def _vendor_error(refused: acs3.Refused) -> VendorError:
    code, message = _REFUSALS[refused.problem]
    return VendorError(code, message and message.format(detail=refused.detail))


@dataclass(frozen=True)
class Authenticated:
    scheme: str  # "ACS3" or "V1"
    access_key_id: str
    action: str
    params: dict[str, str]  # business parameters (query + form body, without the V1 common ones)
    security_token_used: bool


class NonceCache:
    """Remembers ``(AccessKeyId, nonce)`` for ``ttl`` seconds; ``use`` is atomic."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def use(self, access_key_id: str, nonce: str) -> bool:
        """Record the nonce; False when it was already used within the window."""
        now = self._clock()
        key = (access_key_id, nonce)
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            expires = self._seen.get(key)
            if expires is not None and expires > now:
                return False
            self._seen[key] = now + self._ttl
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def requested_action(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The operation named by the request, before anything is read or verified (for fault injection)."""
    return headers.get("x-acs-action") or query.get("Action")


class Authenticator:
    def __init__(self, config: SandboxConfig, nonces: NonceCache, actions: frozenset[str]) -> None:
        self._config = config
        self._nonces = nonces
        self._actions = actions

    def authenticate(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        form: Mapping[str, str],
    ) -> Authenticated:
        """``headers`` have lower-case names. Raises :class:`VendorError` with the gateway's code."""
        authorization = headers.get("authorization", "")
        if authorization.startswith("ACS3-"):
            return self._acs3(method, path, query, headers, body, form, authorization)
        if "Signature" in query:
            return self._v1(method, query, headers, form)
        raise VendorError("MissingSignature")

    # --- shared checks -----------------------------------------------------------------------------------

    def _check_action(self, action: str | None, version: str | None) -> str:
        if not action:
            raise VendorError("MissingParameter", 'The input parameter "Action" that is mandatory is not supplied.')
        if version != API_VERSION:
            raise VendorError("InvalidVersion")
        if action not in self._actions:
            raise VendorError("InvalidAction.NotFound")
        return action

    def _check_key_and_token(self, access_key_id: str, token: str | None) -> None:
        if not hmac.compare_digest(access_key_id.encode(), self._config.access_key_id.encode()):
            raise VendorError("InvalidAccessKeyId.NotFound")
        if token is not None and token not in self._config.security_tokens:
            raise VendorError("InvalidSecurityToken.Malformed")
        if token is None and self._config.security_tokens:
            # The key is an STS key (a token was issued with it, as FC's role gives the functions one): the gateway
            # refuses it without its token (errors.py, MissingSecurityToken).
            raise VendorError("MissingSecurityToken")

    def _check_timestamp(self, value: str | None) -> None:
        """x-acs-date (V3) or the Timestamp parameter (V1): the same format and window."""
        if not value:
            raise VendorError("MissingTimestamp")
        try:
            acs3.check_timestamp(value, self._config.clock(), self._config.timestamp_skew)
        except acs3.Refused as refused:
            raise _vendor_error(refused) from None

    def _check_nonce(self, access_key_id: str, nonce: str | None) -> None:
        if not nonce:
            raise VendorError(
                "MissingParameter", 'The input parameter "SignatureNonce" that is mandatory is not supplied.'
            )
        if not self._nonces.use(access_key_id, nonce):
            raise VendorError("SignatureNonceUsed")

    # --- V3 ----------------------------------------------------------------------------------------------

    def _acs3(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        form: Mapping[str, str],
        authorization: str,
    ) -> Authenticated:
        """The gateway's checks in its order; the signature itself with :mod:`tools.acs3` (``_REFUSALS``)."""
        try:
            parsed = acs3.parse_authorization(authorization)
            action = self._check_action(headers.get("x-acs-action"), headers.get("x-acs-version"))
            credential = parsed.access_key_id
            token = headers.get("x-acs-security-token")
            self._check_key_and_token(credential, token)
            if token is not None and headers.get("x-acs-accesskey-id", credential) != credential:
                raise VendorError("InvalidSecurityToken.MismatchWithAccessKey")
            self._check_timestamp(headers.get("x-acs-date"))
            acs3.check_signed_headers(parsed, headers)
            payload_hash = acs3.hashed_payload(headers, body)
            acs3.check_signature(parsed, self._config.access_key_secret, method=method, path=path, query=query,
                                 headers=headers, payload_hash=payload_hash)
        except acs3.Refused as refused:
            raise _vendor_error(refused) from None
        self._check_nonce(credential, headers.get("x-acs-signature-nonce"))
        params = {**query, **form}
        return Authenticated("ACS3", credential, action, params, token is not None)

    # --- V1 ----------------------------------------------------------------------------------------------

    def _v1(
        self, method: str, query: Mapping[str, str], headers: Mapping[str, str], form: Mapping[str, str]
    ) -> Authenticated:
        """The gateway's checks in its order; the signature itself with :mod:`tools.rpc_v1` (``_V1_REFUSALS``)."""
        action = self._check_action(query.get("Action"), query.get("Version"))
        access_key_id = query.get("AccessKeyId")
        if not access_key_id:
            raise VendorError(
                "MissingParameter", 'The input parameter "AccessKeyId" that is mandatory is not supplied.'
            )
        signed_params = rpc_v1.signed_parameters(query, form)
        try:
            rpc_v1.check_signature_fields(query)
            token = query.get("SecurityToken")
            self._check_key_and_token(access_key_id, token)
            self._check_timestamp(query.get("Timestamp"))
            rpc_v1.check_signature(self._config.access_key_secret, method, signed_params)
        except rpc_v1.Refused as refused:
            code, message = _V1_REFUSALS[refused.problem]
            raise VendorError(code, message and message.format(detail=refused.detail)) from None
        self._check_nonce(access_key_id, query.get("SignatureNonce"))
        params = {k: v for k, v in query.items() if k not in V1_COMMON}
        params.update(form)
        return Authenticated("V1", access_key_id, action, params, token is not None)
