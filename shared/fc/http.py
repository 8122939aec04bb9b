"""The FC 3.0 HTTP trigger event (:class:`HttpEvent`) and its headers.

In the style of AWS Lambda Powertools' event classes: the adapter keeps the raw decoded event (``.raw``) and exposes
typed properties over it. Nothing trusts the event's shape: a malformed event raises :class:`BadEvent` (400), a
malformed request body :class:`BadRequest` (4xx).

``rawPath`` is URL-encoded, ``requestContext.http.path`` is decoded. Repeated header and query values arrive
comma-joined. The header names' casing FC uses is not documented: lookups here are case-insensitive.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import unquote

from shared import jsonutil

from .errors import BadEvent, BadRequest
from .events import as_text, b64decode_strict, decode_event, event_kind

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

DEFAULT_MAX_JSON_BYTES = 256 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
_LENGTH_DIGITS = 18  # a Content-Length of more digits is over every limit (see HttpEvent.declared_length)
_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded"}
)


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping. Iterates over lowercase names."""

    __slots__ = ("_items",)

    def __init__(self, raw: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        items: dict[str, str] = {}
        pairs = raw.items() if isinstance(raw, Mapping) else (raw or ())
        for name, value in pairs:
            key = str(name).lower()
            text = as_text(value)
            items[key] = f"{items[key]},{text}" if key in items else text
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:  # values may be tokens: names only
        return f"Headers({sorted(self._items)})"


def _json_depth_ok(value: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return False
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > max_depth:
                return False
            stack.extend((v, depth + 1) for v in item)
    return True


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    mt = media_type(content_type)
    return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))


def is_text_media_type(content_type: str | None) -> bool:
    mt = media_type(content_type)
    return mt.startswith("text/") or mt in _TEXT_TYPES or mt.endswith(("+json", "+xml"))


class HttpEvent:
    """An FC 3.0 HTTP trigger event. Build with :meth:`from_bytes`."""

    __slots__ = ("_body", "_headers", "_json", "_query", "path_params", "raw")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.path_params: dict[str, str] = {}
        self._headers: Headers | None = None
        self._query: dict[str, str] | None = None
        self._body: bytes | None = None
        self._json: tuple[Any] | None = None

    @classmethod
    def from_bytes(cls, event: bytes | bytearray | str | Mapping[str, Any]) -> HttpEvent:
        raw = decode_event(event)
        if not isinstance(raw, Mapping):
            raise BadEvent("HTTP event must be a JSON object")
        raw = dict(raw)
        ctx = raw.get("requestContext")
        if ctx is not None and not isinstance(ctx, Mapping):
            raise BadEvent("HTTP event requestContext must be an object")
        http = (ctx or {}).get("http")
        if http is not None and not isinstance(http, Mapping):
            raise BadEvent("HTTP event requestContext.http must be an object")
        method = (http or {}).get("method")
        if not isinstance(method, str) or not method:
            raise BadEvent("HTTP event has no requestContext.http.method")
        raw_path, path = raw.get("rawPath"), (http or {}).get("path")
        if not isinstance(raw_path, str) and not isinstance(path, str):
            raise BadEvent("HTTP event has no rawPath")
        for name in ("headers", "queryParameters"):
            if raw.get(name) is not None and not isinstance(raw[name], Mapping):
                raise BadEvent(f"HTTP event {name} must be an object")
        body = raw.get("body")
        if body is not None and not isinstance(body, str):
            raise BadEvent("HTTP event body must be a string")
        return cls(raw)

    @staticmethod
    def is_http_event(event: Any) -> bool:
        """Whether a raw event (bytes/str/dict/list) is an HTTP trigger event (see :func:`event_kind`)."""
        try:
            return event_kind(decode_event(event)) == "http"
        except BadEvent:
            return False

    # -- request line
    @property
    def _http(self) -> Mapping[str, Any]:
        http = (self.raw.get("requestContext") or {}).get("http")
        return http if isinstance(http, Mapping) else {}

    @property
    def method(self) -> str:
        return str(self._http.get("method", "")).upper()

    @property
    def raw_path(self) -> str:
        """The URL-encoded path, as the client sent it (``rawPath``)."""
        raw_path = self.raw.get("rawPath")
        if isinstance(raw_path, str) and raw_path:
            return raw_path
        return str(self._http.get("path") or "/")

    @property
    def path(self) -> str:
        """The decoded path (``requestContext.http.path``, else ``rawPath`` decoded)."""
        path = self._http.get("path")
        if isinstance(path, str) and path:
            return path
        return unquote(self.raw_path)

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.raw.get("headers") or {})
        return self._headers

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; repeated ones arrive comma-joined, as FC sends them."""
        if self._query is None:
            raw = self.raw.get("queryParameters") or {}
            self._query = {str(k): as_text(v) for k, v in raw.items()}
        return self._query

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

    @property
    def declared_length(self) -> int | None:
        """The request's ``Content-Length`` as a number, None when absent or not a plain decimal number. (That
        FC passes it on in the event's headers is not documented: *unverified*; without it the body's own size
        is checked, before it is decoded.) A number of more than 18 significant digits is read as 10**18, larger
        than any limit: ``int()`` refuses strings of over 4300 digits, and that refusal must not be a 500."""
        value = (self.header("content-length") or "").strip()
        if not (value.isascii() and value.isdigit()):
            return None
        digits = value.lstrip("0") or "0"
        return int(digits) if len(digits) <= _LENGTH_DIGITS else 10**_LENGTH_DIGITS

    def refuse_body_over(self, max_bytes: int) -> None:
        """:class:`BadRequest` ``PayloadTooLarge`` (413) when the body is certainly larger than ``max_bytes``,
        judged on the declared length and on the event's body *text* — never by decoding it: base64 text of
        ``n`` characters holds at least ``3n/4 - 2`` bytes, plain text at least one byte per character."""
        declared = self.declared_length
        text = self.raw.get("body") or ""
        lower_bound = len(text) * 3 // 4 - 2 if self.is_base64_encoded else len(text)
        if (declared is not None and declared > max_bytes) or lower_bound > max_bytes:
            raise BadRequest("PayloadTooLarge", f"request body exceeds {max_bytes} bytes", 413)

    @property
    def is_base64_encoded(self) -> bool:
        return self.raw.get("isBase64Encoded") is True

    @property
    def body(self) -> bytes:
        """The request body as bytes, base64-decoded when FC encoded it. :class:`BadEvent` if that fails."""
        if self._body is None:
            text = self.raw.get("body") or ""
            if self.is_base64_encoded:
                try:
                    self._body = b64decode_strict(text)
                except (binascii.Error, ValueError):
                    raise BadEvent("HTTP event body is not valid base64") from None
            else:
                self._body = text.encode("utf-8", "surrogatepass")
        return self._body

    def json(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_JSON_BYTES,
        max_depth: int = DEFAULT_MAX_JSON_DEPTH,
        require_content_type: bool = True,
    ) -> Any:
        """The body parsed as JSON.

        Raises :class:`BadRequest`: ``UnsupportedMediaType`` (415) unless the content type is JSON (a browser can
        only send ``application/json`` cross-origin after a CORS preflight, so this also blocks simple-request
        CSRF), ``PayloadTooLarge`` (413), ``InvalidJson`` (400, also for an empty body), ``JsonTooDeep`` (400).
        """
        if self._json is not None:
            return self._json[0]
        if require_content_type and not is_json_media_type(self.content_type):
            raise BadRequest("UnsupportedMediaType", "content-type must be application/json", 415)
        self.refuse_body_over(max_bytes)  # before decoding a body it would refuse anyway
        body = self.body
        if len(body) > max_bytes:
            raise BadRequest("PayloadTooLarge", f"request body exceeds {max_bytes} bytes", 413)
        if not body.strip():
            raise BadRequest("InvalidJson", "request body is empty")
        try:
            value = jsonutil.loads(body)
        except jsonutil.JSONDecodeError:
            raise BadRequest("InvalidJson", "request body is not valid JSON") from None
        if not _json_depth_ok(value, max_depth):
            raise BadRequest("JsonTooDeep", f"request body nests deeper than {max_depth} levels")
        self._json = (value,)
        return value

    def json_object(self, **kwargs: Any) -> dict[str, Any]:
        """Like :meth:`json`, but the body must be a JSON object (``InvalidJson`` otherwise)."""
        value = self.json(**kwargs)
        if not isinstance(value, dict):
            raise BadRequest("InvalidJson", "request body must be a JSON object")
        return value

    # -- request context
    @property
    def request_id(self) -> str | None:
        rid = (self.raw.get("requestContext") or {}).get("requestId")
        return rid if isinstance(rid, str) and rid else self.header("x-fc-request-id")

    @property
    def source_ip(self) -> str | None:
        ip = self._http.get("sourceIp")
        return ip if isinstance(ip, str) and ip else None

    @property
    def domain_name(self) -> str | None:
        name = (self.raw.get("requestContext") or {}).get("domainName")
        return name if isinstance(name, str) and name else self.header("host")

    def __repr__(self) -> str:  # no query, headers or body: they may carry tokens and PII
        return f"HttpEvent({self.method} {self.raw_path})"
