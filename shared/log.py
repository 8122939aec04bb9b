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

What is withheld, and how, is :mod:`shared.redaction` (PII keys, registered secrets, tokens in free text,
exception messages); this module applies it to the message, the arguments, the context and the ``extra`` fields.

The message text cannot be checked for names or document numbers: put data in ``extra``, never in the message.
Loggers from :func:`get_logger` do not propagate to the root logger (so pytest's ``caplog`` does not see them:
capture stdout instead).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType

from shared import jsonutil
from shared.config import ConfigError
from shared.redaction import (
    PII_KEYS,
    REDACTED,
    exception_message,
    exception_summary,
    exception_text,
    is_pii_key,
    register_secret,
    sanitize,
    sanitize_field,
    scrub_text,
    type_name,
)

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

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
MAX_MESSAGE_CHARS = 8192

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


class _LogContext:
    """What :func:`log_context` returns: a plain context manager (no ``contextlib`` on the cold-start path,
    docs/performance.md), binding on enter and restoring the previous context on exit."""

    __slots__ = ("_context", "_token")

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def __enter__(self) -> None:
        token = _context.set(_context.get())
        try:
            bind(**self._context)
        except BaseException:
            _context.reset(token)
            raise
        self._token = token

    def __exit__(self, *exc_info: object) -> None:
        _context.reset(self._token)


def log_context(
    request_id: str | None = None,
    merchant_biz_id: str | None = None,
    transaction_id: str | None = None,
    **extra: Any,
) -> _LogContext:
    """Bind context for the ``with`` block and restore the previous context afterwards (also on error).

    Arguments left as ``None`` keep what an outer block bound, so blocks nest:
    ``log_context(request_id=...)`` around ``log_context(merchant_biz_id=...)`` logs both.
    """
    given = {"request_id": request_id, "merchant_biz_id": merchant_biz_id, "transaction_id": transaction_id}
    return _LogContext({k: v for k, v in {**given, **extra}.items() if v is not None})


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
        return f"{type_name(type(arg))}: {exception_message(arg)}"
    return sanitize(arg)


def _safe_message(record: logging.LogRecord) -> str:
    msg, args = record.msg, record.args
    if isinstance(msg, BaseException):
        msg = f"{type_name(type(msg))}: {exception_message(msg)}"
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
        record.__dict__[key] = sanitize_field(key, record.__dict__[key])
    context = current_context()
    record.__dict__["_kyc_context"] = {k: sanitize_field(k, v) for k, v in context.items()}
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        summary = exception_summary(exc)
        record.__dict__["_kyc_exception"] = summary
        record.exc_text = exception_text(summary)
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
    """``KYC_LOG_LEVEL`` as a level number: a name (``debug``, ``WARNING``) or a number; INFO when unset.
    Anything else is a ``ConfigError`` (raised by every function's ``initialize``, through :mod:`shared.wiring`);
    the logger itself, set up at import, falls back to INFO so that the error can be logged."""
    raw = (env.get(LEVEL_ENV) or "").strip()
    if not raw:
        return logging.INFO
    if raw.isdigit():
        return int(raw)
    level = logging.getLevelName(raw.upper())
    if not isinstance(level, int):
        raise ConfigError(LEVEL_ENV, "must be DEBUG, INFO, WARNING, ERROR, CRITICAL or a number")
    return level


def _shared_handler() -> logging.Handler:
    with _config.lock:
        if _config.handler is None:
            try:
                _config.level = level_from_env(os.environ)
            except ConfigError:  # reported by initialize (shared.wiring); a logger is needed to report it
                _config.level = logging.INFO
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

