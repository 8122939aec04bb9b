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
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.signing import ACS3_ALGORITHM, acs3_canonical_request, acs3_signature, v1_signature
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


def parse_timestamp(value: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        raise VendorError("InvalidTimeStamp.Format") from None


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

    def _check_timestamp(self, value: str | None) -> None:
        if not value:
            raise VendorError("MissingTimestamp")
        if abs(self._config.clock() - parse_timestamp(value)) > self._config.timestamp_skew:
            raise VendorError("InvalidTimeStamp.Expired")

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
        algorithm, _, rest = authorization.partition(" ")
        if algorithm != ACS3_ALGORITHM:
            raise VendorError("IncompleteSignature", f"Only {ACS3_ALGORITHM} is supported.")
        fields: dict[str, str] = {}
        for part in rest.split(","):
            name, sep, value = part.strip().partition("=")
            if sep:
                fields[name] = value
        credential, signed_list, signature = (fields.get(k) for k in ("Credential", "SignedHeaders", "Signature"))
        if not credential or not signed_list or not signature:
            raise VendorError("IncompleteSignature", "Authorization needs Credential, SignedHeaders and Signature.")
        action = self._check_action(headers.get("x-acs-action"), headers.get("x-acs-version"))
        token = headers.get("x-acs-security-token")
        self._check_key_and_token(credential, token)
        if token is not None and headers.get("x-acs-accesskey-id", credential) != credential:
            raise VendorError("InvalidSecurityToken.MismatchWithAccessKey")
        self._check_timestamp(headers.get("x-acs-date"))

        signed = [name.strip().lower() for name in signed_list.split(";") if name.strip()]
        required = {"host"} | {name for name in headers if name.startswith("x-acs-")}
        unsigned = sorted(required - set(signed))
        if unsigned:
            raise VendorError("IncompleteSignature", f"Header not signed: {', '.join(unsigned)}.")
        absent = sorted(name for name in signed if name not in headers)
        if absent:
            raise VendorError("IncompleteSignature", f"Signed header missing from the request: {', '.join(absent)}.")
        hashed_payload = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256", hashed_payload) != hashed_payload:
            raise VendorError("SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the body.")
        canonical, _ = acs3_canonical_request(
            method, path, query, {name: headers[name] for name in signed}, hashed_payload
        )
        expected = acs3_signature(self._config.access_key_secret, canonical)
        if not hmac.compare_digest(expected, signature.lower()):
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            raise VendorError(
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation. "
                f"server string to sign is:{ACS3_ALGORITHM}\n{digest}",
            )
        self._check_nonce(credential, headers.get("x-acs-signature-nonce"))
        params = {**query, **form}
        return Authenticated("ACS3", credential, action, params, token is not None)

    # --- V1 ----------------------------------------------------------------------------------------------

    def _v1(
        self, method: str, query: Mapping[str, str], headers: Mapping[str, str], form: Mapping[str, str]
    ) -> Authenticated:
        action = self._check_action(query.get("Action"), query.get("Version"))
        access_key_id = query.get("AccessKeyId")
        if not access_key_id:
            raise VendorError(
                "MissingParameter", 'The input parameter "AccessKeyId" that is mandatory is not supplied.'
            )
        if query.get("SignatureMethod") != "HMAC-SHA1":
            raise VendorError("InvalidSignatureMethod")
        if query.get("SignatureVersion", "1.0") != "1.0":
            raise VendorError("InvalidParameter", 'The specified parameter "SignatureVersion" is not valid.')
        token = query.get("SecurityToken")
        self._check_key_and_token(access_key_id, token)
        self._check_timestamp(query.get("Timestamp"))
        signed_params = {**query, **form}
        expected = v1_signature(self._config.access_key_secret, method, signed_params)
        if not hmac.compare_digest(expected.encode(), query["Signature"].encode()):
            raise VendorError("SignatureDoesNotMatch")
        self._check_nonce(access_key_id, query.get("SignatureNonce"))
        params = {k: v for k, v in query.items() if k not in V1_COMMON}
        params.update(form)
        return Authenticated("V1", access_key_id, action, params, token is not None)
