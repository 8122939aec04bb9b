"""What never reaches a log line: PII keys, registered secrets, tokens in free text, and exception messages.

:func:`sanitize` makes a JSON-ready copy of any value with PII keys redacted (:data:`PII_KEYS`, compared
case-insensitively without ``_``/``-``, plus secret-like suffixes such as ``...Token``), bytes and long strings
summarised and every string scrubbed (:func:`scrub_text`: JWTs, ``whsec_`` secrets, the values given to
:func:`register_secret`, base64 runs of 100+ characters). Exceptions are summarised by type and frames; their
message only when the exception class sets ``log_safe = True``.

:mod:`shared.log` applies all of this to every record; the settings readers register secrets as they read them.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
import threading
import traceback
from collections.abc import Mapping
from urllib.parse import quote

from shared import jsonutil
from shared.values import asdict, is_value

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _Secret = TypeVar("_Secret", str, str | None)

REDACTED = "[REDACTED]"
WITHHELD = "[message withheld]"
MAX_VALUE_CHARS = 512
MAX_DEPTH = 8
MAX_FRAMES = 40
MIN_SECRET_CHARS = 6

# --- which keys are PII ----------------------------------------------------------------------------------


def _norm(key: object) -> str:
    return str(key).lower().replace("_", "").replace("-", "").replace(" ", "")


#: Key names (normalised: lower case, without ``_``, ``-`` and spaces) whose values never reach the log.
PII_KEYS: frozenset[str] = frozenset(
    _norm(k)
    for k in (
        # person and document data (cloudauth-intl ocrIdInfo fields and our normalised Identity schema)
        # (every name shared.results.identity reads a name, document number, birth date or address from is one:
        # tests/test_log.py holds the two lists together)
        "name", "fullName", "givenName", "givenname", "surname", "surnameCN", "givennameCN", "nativeName",
        "nameCN", "chineseName", "nameEN", "englishName", "firstName", "lastName", "middleName", "nameCode",
        "documentNumber", "idNumber", "idNo", "passportNo", "passportNumber", "permitNumber", "docNo", "docNumber",
        "docName", "cardNo", "certNo", "certName", "nationalId", "birthDate", "dateOfBirth", "dob", "birthday",
        "address", "residentialAddress", "placeOfBirth", "sex", "gender", "ethnicity", "email", "phone",
        "phoneNumber", "mobile",
        # the merchant's own user id (only its peppered hash is ever stored or logged, and under merchantUserId)
        "merchantUserId", "userId", "merchantUser", "sub",
        # vendor payloads that carry the above
        "metaInfo", "identity", "ocrIdInfo", "ocrIdEditInfo", "extIdInfo", "extFaceInfo", "extBasicInfo",
        "extRiskInfo", "extSourceInfo", "extInfo", "ekycResult", "facePictureBase64", "facePictureUrl",
        # images
        "idImage", "faceImg", "faceImage", "image", "images", "img", "photo", "picture",
        # credentials
        "token", "callbackToken", "secret", "password", "passwd", "authorization", "signature", "accessKeySecret",
        "securityToken", "jwt", "cookie", "setCookie", "apiKey", "privateKey", "credentials", "credential",
        # the vendor's single-use page for one user (a keyed start's row keeps it to answer a repeat)
        "transactionUrl",
    )
)  # fmt: skip
_PII_SUFFIXES = ("token", "secret", "password", "signature", "image", "images", "img", "base64", "apikey", "privatekey")


def is_pii_key(key: object) -> bool:
    """Whether values under ``key`` are withheld (``idNumber``, ``id_number``, ``X-Acs-Security-Token``, ...)."""
    normalised = _norm(key)
    return normalised in PII_KEYS or normalised.endswith(_PII_SUFFIXES)


# --- scrubbing free text ---------------------------------------------------------------------------------

# Compiled on first use, not at import: compiling costs more than a cold start should pay for text it may never
# scrub (measured in docs/performance.md). ``re`` caches them after that.
_JWT = r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"
_WHSEC = r"whsec_[A-Za-z0-9+/=_-]+"  # not the bare prefix: a message naming the format keeps it
_BASE64 = r"[A-Za-z0-9+/_-]{100,}={0,2}"


class _SecretRegistry:
    """The registered secrets; their pattern is compiled by the first scrub after a registration (settings register
    several secrets while a function starts: one compile, not one per secret, and none before a log line needs it).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False

    def add(self, value: str) -> None:
        with self.lock:
            if value not in self.values:
                self.values.update({value, quote(value, safe="")})
                self._stale = True

    def pattern(self) -> re.Pattern[str] | None:
        if self._stale:
            with self.lock:
                if self._stale:
                    ordered = sorted(self.values, key=len, reverse=True)
                    self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
                    self._stale = False
        return self._pattern


_secrets = _SecretRegistry()


def register_secret(value: _Secret) -> _Secret:
    """Scrub ``value`` (and its URL-encoded form) from every later log line; returns ``value``, so a settings
    reader can register a secret where it reads it. Values under 6 chars are ignored."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _secrets.add(value)
    return value


def scrub_text(text: str) -> str:
    """Remove registered secrets, JWTs, ``whsec_`` secrets and long base64 runs from free text."""
    pattern = _secrets.pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if "eyJ" in text:
        text = re.sub(_JWT, "[jwt]", text)
    if "whsec_" in text:
        text = re.sub(_WHSEC, "[webhook secret]", text)
    if len(text) >= 100:
        text = re.sub(_BASE64, lambda m: f"[base64 {len(m.group(0))} chars]", text)
    return text


# --- sanitising values -----------------------------------------------------------------------------------


def _sanitize_str(value: str, depth: int) -> Any:
    if len(value) > MAX_VALUE_CHARS:
        return f"[long value {len(value)} chars]"
    stripped = value.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        # Vendor payloads (ExtIdInfo, ...) are JSON inside strings: mask what is inside.
        try:
            parsed = jsonutil.loads(stripped)
        except ValueError:
            pass
        else:
            if isinstance(parsed, (dict, list)):
                return sanitize(parsed, depth + 1)
    return scrub_text(value)


def sanitize(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value`` with PII keys redacted, bytes and long strings summarised, text scrubbed."""
    if _depth > MAX_DEPTH:
        return "[too deep]"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _sanitize_str(value, _depth)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"[bytes {value.nbytes if isinstance(value, memoryview) else len(value)}]"
    if isinstance(value, Mapping):
        return {
            scrub_text(str(k)): REDACTED if is_pii_key(k) else sanitize(v, _depth + 1) for k, v in value.items()
        }
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple (TokenClaims): its keys decide
        return sanitize(value._asdict(), _depth + 1)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [sanitize(v, _depth + 1) for v in value]
    if is_value(value):
        return sanitize(asdict(value), _depth + 1)
    if hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses  # noqa: PLC0415 - a dataclass's module has imported it already

        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return sanitize(fields, _depth + 1)
    if isinstance(value, enum.Enum):
        return sanitize(value.value, _depth + 1)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if type(value).__module__ in _PLAIN_STR_MODULES:  # UUID, Decimal, paths: checked by module, not imported
        return scrub_text(str(value))
    if isinstance(value, BaseException):
        return exception_summary(value, with_frames=False)
    # Unknown objects: their str() may echo anything, so only the type is shown.
    return f"[{type(value).__name__}]"


_PLAIN_STR_MODULES = frozenset({"uuid", "decimal", "_decimal", "pathlib", "_pydecimal", "ipaddress"})


def sanitize_field(key: str, value: Any) -> Any:
    return REDACTED if is_pii_key(key) else sanitize(value)


# --- exceptions ------------------------------------------------------------------------------------------


def type_name(exc_type: type[BaseException]) -> str:
    module = exc_type.__module__
    return exc_type.__qualname__ if module in ("builtins", "__main__") else f"{module}.{exc_type.__qualname__}"


def exception_message(exc: BaseException) -> str:
    if getattr(type(exc), "log_safe", False) is True:
        return scrub_text(str(exc))
    return WITHHELD


def exception_summary(exc: BaseException, *, with_frames: bool = True, _depth: int = 0) -> dict[str, Any]:
    summary: dict[str, Any] = {"type": type_name(type(exc)), "message": exception_message(exc)}
    if with_frames:
        frames = traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]
        summary["frames"] = [{"file": f.filename, "line": f.lineno, "function": f.name} for f in frames]
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and _depth < 3:
        summary["cause"] = exception_summary(cause, with_frames=with_frames, _depth=_depth + 1)
    return summary


def exception_text(summary: Mapping[str, Any]) -> str:
    """A plain-text rendering of a summary, for other formatters that print ``record.exc_text``."""
    lines = ["Traceback (most recent call last):"]
    lines += [f'  File "{f["file"]}", line {f["line"]}, in {f["function"]}' for f in summary.get("frames", [])]
    lines.append(f"{summary['type']}: {summary['message']}")
    return "\n".join(lines)
