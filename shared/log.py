"""JSON-lines logging with request context and a PII masking step that every record passes through.

Usage::

    from shared.log import get_logger, log_context, security_event

    logger = get_logger(__name__)
    with log_context(request_id=ctx.request_id, merchant_biz_id=biz_id):
        logger.info("verification initialised", extra={"docType": "01000000"})

Every line is one JSON object: ``time`` (UTC, ms), ``level``, ``logger``, ``message``, the bound context
(``requestId``, ``merchantBizId``, ``transactionId`` and anything else bound), the record's ``extra`` fields and,
for ``exc_info``, an ``exception`` object.

Masking (:func:`sanitize_record`, idempotent) runs as a filter on every logger made by :func:`get_logger` and
again in the JSON formatter: records logged through a configured logger are scrubbed in place before any
handler sees them (so another handler on it gets the masked record too); records propagated from plain
``logging.getLogger`` children are scrubbed by the formatter of our handler.

- extra/context keys named like PII (:data:`PII_KEYS`, compared case-insensitively without ``_``/``-``, plus
  secret-like suffixes such as ``...Token``) become ``"[REDACTED]"``, recursively in dicts, lists, dataclasses
  and JSON-object strings; bytes become ``"[bytes N]"``; strings over 512 chars ``"[long value N chars]"``;
- the message and every string are scrubbed of JWTs, ``whsec_`` secrets, values given to
  :func:`register_secret`, and base64 runs of 100+ characters;
- exceptions show type and frames (file, line, function); the message only when the exception *class* sets
  ``log_safe = True``.

The message text cannot be checked for names or document numbers: put data in ``extra``, never in the message.
Loggers from :func:`get_logger` do not propagate to the root logger (so pytest's ``caplog`` does not see them:
capture stdout instead).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import enum
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import quote

from shared import jsonutil

__all__ = [
    "LEVEL_ENV",
    "PII_KEYS",
    "REDACTED",
    "JsonFormatter",
    "PiiMaskingFilter",
    "bind",
    "clear_context",
    "current_context",
    "get_logger",
    "is_pii_key",
    "level_from_env",
    "log_context",
    "register_secret",
    "sanitize",
    "sanitize_record",
    "scrub_text",
    "security_event",
]

LEVEL_ENV = "KYC_LOG_LEVEL"
REDACTED = "[REDACTED]"
WITHHELD = "[message withheld]"
MAX_VALUE_CHARS = 512
MAX_MESSAGE_CHARS = 8192
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
        "name", "fullName", "givenName", "givenname", "surname", "surnameCN", "givennameCN", "nativeName",
        "englishName", "firstName", "lastName", "middleName", "nameCode", "documentNumber", "idNumber", "idNo",
        "passportNo", "passportNumber", "docNo", "docNumber", "docName", "cardNo", "certNo", "certName",
        "nationalId", "birthDate", "dateOfBirth", "dob", "birthday", "address", "placeOfBirth", "sex", "gender",
        "ethnicity", "email", "phone", "phoneNumber", "mobile", "merchantUserId",
        # vendor payloads that carry the above
        "metaInfo", "identity", "ocrIdInfo", "ocrIdEditInfo", "extIdInfo", "extFaceInfo", "extBasicInfo",
        "extRiskInfo", "extInfo", "ekycResult", "facePictureBase64", "facePictureUrl",
        # images
        "idImage", "faceImg", "faceImage", "image", "images", "img", "photo", "picture",
        # credentials
        "token", "callbackToken", "secret", "password", "passwd", "authorization", "signature", "accessKeySecret",
        "securityToken", "jwt", "cookie", "setCookie", "apiKey", "privateKey", "credentials", "credential",
    )
)  # fmt: skip
_PII_SUFFIXES = ("token", "secret", "password", "signature", "image", "images", "img", "base64", "apikey", "privatekey")


def is_pii_key(key: object) -> bool:
    """Whether values under ``key`` are withheld (``idNumber``, ``id_number``, ``X-Acs-Security-Token``, ...)."""
    normalised = _norm(key)
    return normalised in PII_KEYS or normalised.endswith(_PII_SUFFIXES)


# --- scrubbing free text ---------------------------------------------------------------------------------

_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_WHSEC_RE = re.compile(r"whsec_[A-Za-z0-9+/=_-]*")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]{100,}={0,2}")

class _SecretRegistry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None


_secrets = _SecretRegistry()


_Secret = TypeVar("_Secret", str, "str | None")


def register_secret(value: _Secret) -> _Secret:
    """Scrub ``value`` (and its URL-encoded form) from every later log line; returns ``value``, so a settings
    reader can register a secret where it reads it. Values under 6 chars are ignored."""
    if not value or len(value) < MIN_SECRET_CHARS:
        return value
    with _secrets.lock:
        if value in _secrets.values:
            return value
        _secrets.values.update({value, quote(value, safe="")})
        ordered = sorted(_secrets.values, key=len, reverse=True)
        _secrets.pattern = re.compile("|".join(re.escape(v) for v in ordered))
    return value


def scrub_text(text: str) -> str:
    """Remove registered secrets, JWTs, ``whsec_`` secrets and long base64 runs from free text."""
    pattern = _secrets.pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if "eyJ" in text:
        text = _JWT_RE.sub("[jwt]", text)
    if "whsec_" in text:
        text = _WHSEC_RE.sub("[webhook secret]", text)
    if len(text) >= 100:
        text = _BASE64_RE.sub(lambda m: f"[base64 {len(m.group(0))} chars]", text)
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
    if isinstance(value, (list, tuple, set, frozenset)):
        return [sanitize(v, _depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return sanitize(fields, _depth + 1)
    if isinstance(value, enum.Enum):
        return sanitize(value.value, _depth + 1)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if type(value).__module__ in _PLAIN_STR_MODULES:  # UUID, Decimal, paths: checked by module, not imported
        return scrub_text(str(value))
    if isinstance(value, BaseException):
        return _exception_summary(value, with_frames=False)
    # Unknown objects: their str() may echo anything, so only the type is shown.
    return f"[{type(value).__name__}]"


_PLAIN_STR_MODULES = frozenset({"uuid", "decimal", "_decimal", "pathlib", "_pydecimal", "ipaddress"})


def _sanitize_field(key: str, value: Any) -> Any:
    return REDACTED if is_pii_key(key) else sanitize(value)


# --- exceptions ------------------------------------------------------------------------------------------


def _type_name(exc_type: type[BaseException]) -> str:
    module = exc_type.__module__
    return exc_type.__qualname__ if module in ("builtins", "__main__") else f"{module}.{exc_type.__qualname__}"


def _exception_message(exc: BaseException) -> str:
    if getattr(type(exc), "log_safe", False) is True:
        return scrub_text(str(exc))
    return WITHHELD


def _exception_summary(exc: BaseException, *, with_frames: bool = True, _depth: int = 0) -> dict[str, Any]:
    summary: dict[str, Any] = {"type": _type_name(type(exc)), "message": _exception_message(exc)}
    if with_frames:
        frames = traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]
        summary["frames"] = [{"file": f.filename, "line": f.lineno, "function": f.name} for f in frames]
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and _depth < 3:
        summary["cause"] = _exception_summary(cause, with_frames=with_frames, _depth=_depth + 1)
    return summary


def _exception_text(summary: Mapping[str, Any]) -> str:
    """A plain-text rendering of a summary, for other formatters that print ``record.exc_text``."""
    lines = ["Traceback (most recent call last):"]
    lines += [f'  File "{f["file"]}", line {f["line"]}, in {f["function"]}' for f in summary.get("frames", [])]
    lines.append(f"{summary['type']}: {summary['message']}")
    return "\n".join(lines)


# --- context ---------------------------------------------------------------------------------------------

_CONTEXT_NAMES = {"request_id": "requestId", "merchant_biz_id": "merchantBizId", "transaction_id": "transactionId"}
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("kyc_log_context", default=_EMPTY)


def _context_key(key: str) -> str:
    return _CONTEXT_NAMES.get(key, key)


def bind(**context: Any) -> None:
    """Add keys to this request's log context (``request_id`` becomes ``requestId``, ...); ``None`` removes a key."""
    merged = dict(_context.get())
    for key, value in context.items():
        name = _context_key(key)
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    _context.set(MappingProxyType(merged))


def clear_context() -> None:
    _context.set(_EMPTY)


def current_context() -> Mapping[str, Any]:
    return _context.get()


@contextlib.contextmanager
def log_context(
    request_id: str | None = None,
    merchant_biz_id: str | None = None,
    transaction_id: str | None = None,
    **extra: Any,
) -> Iterator[None]:
    """Bind context for the ``with`` block and restore the previous context afterwards (also on error).

    Arguments left as ``None`` keep what an outer block bound, so blocks nest:
    ``log_context(request_id=...)`` around ``log_context(merchant_biz_id=...)`` logs both.
    """
    token = _context.set(_context.get())
    try:
        given = {"request_id": request_id, "merchant_biz_id": merchant_biz_id, "transaction_id": transaction_id}
        bind(**{k: v for k, v in {**given, **extra}.items() if v is not None})
        yield
    finally:
        _context.reset(token)


# --- records ---------------------------------------------------------------------------------------------

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_OUTPUT_KEYS = frozenset({"time", "level", "logger", "message", "exception", "stack"})
_DONE = "_kyc_sanitized"


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [k for k in record.__dict__ if k not in _STANDARD_ATTRS and not k.startswith("_kyc_")]


def _safe_arg(arg: Any) -> Any:
    """A ``%``-format argument with the same rules as values: ``"%s" % exc`` must not print the message."""
    if isinstance(arg, (str, int, float)) or arg is None:
        return arg  # strings are scrubbed with the whole message
    if isinstance(arg, BaseException):
        return f"{_type_name(type(arg))}: {_exception_message(arg)}"
    return sanitize(arg)


def _safe_message(record: logging.LogRecord) -> str:
    msg, args = record.msg, record.args
    if isinstance(msg, BaseException):
        msg = f"{_type_name(type(msg))}: {_exception_message(msg)}"
    elif not isinstance(msg, str):
        msg = str(_safe_arg(msg))
    if not args:
        return msg
    if isinstance(args, Mapping):
        safe_args: Any = sanitize(args)
    else:
        safe_args = tuple(_safe_arg(a) for a in args)
    try:
        return str(msg % safe_args)
    except Exception:  # a bad format string must not lose the record (and must not show the arguments)
        return f"{msg} [unformattable arguments]"


def sanitize_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub ``record`` in place (message, args, extras, exception, stack) and attach the context. Idempotent."""
    if getattr(record, _DONE, False):
        return record
    message = _safe_message(record)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + f"...[{len(message) - MAX_MESSAGE_CHARS} chars cut]"
    record.msg = scrub_text(message)
    record.args = None
    for key in _extra_keys(record):
        record.__dict__[key] = _sanitize_field(key, record.__dict__[key])
    context = current_context()
    record.__dict__["_kyc_context"] = {k: _sanitize_field(k, v) for k, v in context.items()}
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        summary = _exception_summary(exc)
        record.__dict__["_kyc_exception"] = summary
        record.exc_text = _exception_text(summary)
    elif record.exc_text:
        record.exc_text = "[exception text withheld]"
    record.exc_info = None
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info)
    record.__dict__[_DONE] = True
    return record


class PiiMaskingFilter(logging.Filter):
    """A filter that never drops records: it scrubs them in place (see :func:`sanitize_record`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        sanitize_record(record)
        return True


def _iso_time(created: float) -> str:
    whole = int(created)
    millis = int((created - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; sanitises the record itself if no filter did."""

    def format(self, record: logging.LogRecord) -> str:
        sanitize_record(record)
        out: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.msg,
        }
        for key, value in record.__dict__.get("_kyc_context", {}).items():
            out[key if key not in _OUTPUT_KEYS else f"{key}_"] = value
        for key in _extra_keys(record):
            out[key if key not in _OUTPUT_KEYS else f"{key}_"] = record.__dict__[key]
        summary = record.__dict__.get("_kyc_exception")
        if summary is not None:
            out["exception"] = summary
        if record.stack_info:
            out["stack"] = record.stack_info
        return jsonutil.dumps_str(out)


class _StdoutHandler(logging.Handler):
    """Writes to the *current* ``sys.stdout`` (so test capture and FC's stdout both work)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stdout
            stream.write(line + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


# --- configuration ---------------------------------------------------------------------------------------

class _Config:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.handler: logging.Handler | None = None
        self.level = logging.INFO


_config = _Config()
_filter = PiiMaskingFilter()


def level_from_env(env: Mapping[str, str]) -> int:
    """``KYC_LOG_LEVEL`` as a level number: a name (``debug``, ``WARNING``) or a number; INFO when unset/invalid."""
    raw = (env.get(LEVEL_ENV) or "").strip()
    if not raw:
        return logging.INFO
    if raw.isdigit():
        return int(raw)
    level = logging.getLevelName(raw.upper())
    return level if isinstance(level, int) else logging.INFO


def _shared_handler() -> logging.Handler:
    with _config.lock:
        if _config.handler is None:
            _config.level = level_from_env(os.environ)
            handler = _StdoutHandler()
            handler.setFormatter(JsonFormatter())
            _config.handler = handler
        return _config.handler


def get_logger(name: str) -> logging.Logger:
    """A logger writing masked JSON lines to stdout; handler and level (``KYC_LOG_LEVEL``) are set up once."""
    handler = _shared_handler()
    logger = logging.getLogger(name)
    with _config.lock:
        if handler not in logger.handlers:
            logger.addHandler(handler)
            logger.addFilter(_filter)
            logger.setLevel(_config.level)
            logger.propagate = False
    return logger


def security_event(logger: logging.Logger, event: str, **fields: Any) -> None:
    """Log a security-relevant event at WARNING with ``"security": true`` and ``"event"``."""
    extra = {(f"{k}_" if k in _STANDARD_ATTRS else k): v for k, v in fields.items()}
    extra.update({"security": True, "event": event})
    logger.warning(event, extra=extra, stacklevel=2)

