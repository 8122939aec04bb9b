"""Request verification and response signing, written independently of the SDK (whose signer is the tests' oracle).

What a request carries (Tablestore "API reference / HTTP request header" page, "如何使用表格存储的 API"): the
operation in the path (``POST /<Operation>``), ``x-ots-date`` (UTC, ``%Y-%m-%dT%H:%M:%S.000Z``),
``x-ots-apiversion`` (``2015-12-31``), ``x-ots-accesskeyid``, ``x-ots-instancename``, ``x-ots-contentmd5`` (base64
MD5 of the body), ``x-ots-ststoken`` with STS credentials, and a signature:

- **V2** (``x-ots-signature``): base64(HMAC-SHA1(secret, StringToSign));
- **V4** (``x-ots-signaturev4`` with ``x-ots-signdate`` = ``YYYYMMDD`` and ``x-ots-signregion``): base64(
  HMAC-SHA256(key, StringToSign + "ots")) where key = base64(HMAC-SHA256 chain over "aliyun_v4" + secret →
  sign date → region → "ots" → "aliyun_v4_request"); the SDK 6.4.8 signs V4 when the client gets a ``region``.

StringToSign = path + "\\n" + "POST" + "\\n" + canonical query (pairs sorted, form-encoded; empty for every
operation the SDK calls) + "\\n" + canonical headers + "\\n", where the canonical headers are every ``x-ots-*``
header but the signature itself, ``name:value`` with lower-case names and trimmed values, sorted, joined by "\\n".

An answer is signed back: ``Authorization: OTS <AccessKeyId>:<base64(HMAC-SHA1(key, canonical answer headers +
"\\n" + path))>`` with the request's signing key (the secret, or the V4 key), over the answer's ``x-ots-*`` headers;
the SDK checks it on every 2xx answer and on error answers that carry it.

Failures and their answers (the "Error codes" page): missing header → 400 OTSParameterInvalid "Missing header:
<name>."; malformed date → 400 OTSParameterInvalid "Invalid date format: <date>."; date more than 15 minutes
from the server's clock (the page says "out of the specified range"; the OTS request-signature page and the SDK's
own answer check say 15 minutes) → 403 OTSAuthFailed "Mismatch between system time and x-ots-date: <date>.";
unknown key → 403 "The AccessKeyID does not exist."; other instance → 403 "The instance is not found."; body MD5 →
403 "Mismatch between MD5 value of request body and x-ots-contentmd5 in header."; bad signature → 403 "Signature
mismatch.". A missing or different STS token → 403 OTSAuthFailed "Invalid security token." (message unverified).
The V4 sign date is checked for format only (how stale a V4 key may be is unverified).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote_plus

from tools.credentials import AccessKey
from tools.doubles import _v4
from tools.doubles.tablestore.errors import ServiceError, invalid

HEADER_PREFIX = "x-ots-"
SIGNATURE_V2 = "x-ots-signature"
SIGNATURE_V4 = "x-ots-signaturev4"
SIGN_DATE = "x-ots-signdate"
SIGN_REGION = "x-ots-signregion"
REQUIRED_HEADERS = ("x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-instancename", "x-ots-contentmd5")
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
MAX_SKEW_SECONDS = 15 * 60
# V4: the product in the key (tools/doubles/_v4.py) and the salt after the string to sign (checked against the SDK)
_V4_PRODUCT = "ots"
_V4_SALT = "ots"


@dataclass(frozen=True)
class Caller:
    """Who a verified request came from, and the key its answer is signed with."""

    access_key_id: str
    signing_key: bytes
    version: str  # "v2" | "v4"


def auth_failed(message: str) -> ServiceError:
    return ServiceError("OTSAuthFailed", message)


def canonical_headers(headers: Mapping[str, str]) -> str:
    lines = []
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(HEADER_PREFIX) and lower not in (SIGNATURE_V2, SIGNATURE_V4):
            lines.append(f"{lower}:{value.strip()}")
    return "\n".join(sorted(lines))


def canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query))
    return "&".join(f"{quote_plus(name)}={quote_plus(value)}" for name, value in pairs)


def string_to_sign(path: str, query: str, headers: Mapping[str, str]) -> str:
    return f"{path}\nPOST\n{canonical_query(query)}\n{canonical_headers(headers)}\n"


def _hmac(key: bytes, text: str, digest: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), digest).digest()


def v4_signing_key(secret: str, sign_date: str, region: str) -> bytes:
    return base64.b64encode(_v4.signing_key(secret, sign_date, region, _V4_PRODUCT))


def sign_request_v2(secret: str, path: str, query: str, headers: Mapping[str, str]) -> str:
    return base64.b64encode(_hmac(secret.encode("utf-8"), string_to_sign(path, query, headers), "sha1")).decode()


def sign_request_v4(key: bytes, path: str, query: str, headers: Mapping[str, str]) -> str:
    text = string_to_sign(path, query, headers) + _V4_SALT
    return base64.b64encode(_hmac(key, text, "sha256")).decode()


def response_authorization(caller: Caller, path: str, headers: Mapping[str, str]) -> str:
    """The ``Authorization`` value of an answer to ``caller`` (sign after every ``x-ots-*`` header is set)."""
    text = f"{canonical_headers(headers)}\n{path}"
    signature = base64.b64encode(_hmac(caller.signing_key, text, "sha1")).decode()
    return f"OTS {caller.access_key_id}:{signature}"


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - the protocol's checksum


def format_date(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _parse_date(value: str) -> float:
    try:
        parsed = time.strptime(value, DATE_FORMAT)
    except ValueError:
        raise invalid(f"Invalid date format: {value}.") from None
    fraction = value.rsplit(".", 1)[-1].rstrip("Z") if "." in value else "0"
    return calendar.timegm(parsed) + float(f"0.{fraction}")


class Verifier:
    """Checks one request's headers, body checksum and signature, in the order the docstring lists them."""

    def __init__(
        self,
        *,
        instance: str,
        credentials: Iterable[AccessKey],
        region: str | None = None,
        clock: Callable[[], float] = time.time,
        max_skew: float = MAX_SKEW_SECONDS,
    ) -> None:
        self.instance = instance
        self.region = region
        self.clock = clock
        self.max_skew = max_skew
        self._credentials = {c.access_key_id: c for c in credentials}

    def add(self, credential: AccessKey) -> None:
        self._credentials[credential.access_key_id] = credential

    def verify(self, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Caller:
        """``headers`` with lower-case names; raises ``ServiceError`` with the service's answer."""
        for name in REQUIRED_HEADERS:
            if not headers.get(name):
                raise invalid(f"Missing header: {name}.")
        v4 = SIGNATURE_V4 in headers
        if v4:
            for name in (SIGN_DATE, SIGN_REGION):
                if not headers.get(name):
                    raise invalid(f"Missing header: {name}.")
        elif not headers.get(SIGNATURE_V2):
            raise invalid(f"Missing header: {SIGNATURE_V2}.")
        date = headers["x-ots-date"]
        sent_at = _parse_date(date)
        if v4 and not (len(headers[SIGN_DATE]) == 8 and headers[SIGN_DATE].isdigit()):
            raise invalid(f"Invalid date format: {headers[SIGN_DATE]}.")
        if headers["x-ots-instancename"] != self.instance:
            raise auth_failed("The instance is not found.")
        credential = self._credentials.get(headers["x-ots-accesskeyid"])
        if credential is None:
            raise auth_failed("The AccessKeyID does not exist.")
        if abs(self.clock() - sent_at) > self.max_skew:
            raise auth_failed(f"Mismatch between system time and x-ots-date: {date}.")
        if not hmac.compare_digest(content_md5(body), headers["x-ots-contentmd5"]):
            raise auth_failed("Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
        if not credential.accepts_token(headers.get("x-ots-ststoken")):
            raise auth_failed("Invalid security token.")
        if v4:
            region = self.region if self.region is not None else headers[SIGN_REGION]
            key = v4_signing_key(credential.access_key_secret, headers[SIGN_DATE], region)
            expected = sign_request_v4(key, path, query, headers)
            sent = headers[SIGNATURE_V4]
        else:
            key = credential.access_key_secret.encode("utf-8")
            expected = sign_request_v2(credential.access_key_secret, path, query, headers)
            sent = headers[SIGNATURE_V2]
        if not hmac.compare_digest(expected.encode(), sent.encode()):
            raise auth_failed("Signature mismatch.")
        return Caller(credential.access_key_id, key, "v4" if v4 else "v2")
