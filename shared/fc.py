"""Function Compute 3.0 event adapters: typed views over the raw events, HTTP responses and a tiny router.

In the style of AWS Lambda Powertools' event classes: each adapter keeps the raw decoded event (``.raw``) and
exposes typed properties over it. Nothing here trusts the event's shape: a malformed event raises
:class:`BadEvent` (an :class:`HttpError`, 400), a malformed request body raises :class:`BadRequest` (4xx), and
one malformed queue message is reported on that message (:attr:`QueueMessage.error`) without failing its batch.

Event formats (docs: "Use an HTTP trigger to invoke a function", FC 3.0 built-in runtimes; MNS queue trigger
through EventBridge):

* HTTP trigger: ``{"version": "v1", "rawPath", "body", "isBase64Encoded", "headers", "queryParameters",
  "requestContext": {"requestId", "domainName", "http": {"method", "path", "protocol", "sourceIp", "userAgent"},
  "time", "timeEpoch"}}``. ``rawPath`` is URL-encoded, ``requestContext.http.path`` is decoded. Repeated header and
  query values arrive comma-joined. The header names' casing FC uses is not documented: lookups here are
  case-insensitive.
* Queue trigger: one CloudEvent ``{"id", "source", "specversion", "type": "mns:Queue:SendMessage", "subject",
  "time", "data": {"requestId", "messageId", "messageBody"}}``, or a list of them in batch mode.
* Timer trigger: ``{"triggerTime", "triggerName", "payload"}``.

Imports are stdlib + orjson only: every handler imports this module at cold start.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import unquote

from shared import jsonutil

FcResponse = dict[str, Any]
"""An FC 3.0 HTTP trigger response: ``statusCode``, ``headers``, ``isBase64Encoded``, ``body``."""

DEFAULT_MAX_JSON_BYTES = 256 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded"}
)


# --------------------------------------------------------------------------------------------------- errors


class HttpError(Exception):
    """An error that maps to one HTTP error response ``{"error": {"code", "message"}}``.

    ``message`` is shown to the client: it names fields, never their values (no PII, no tokens).
    """

    status: int = 400
    code: str = "BadRequest"

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def to_response(self) -> FcResponse:
        return error_response(self.status, self.code, self.message, self.headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class BadEvent(HttpError):
    """The invocation event is not a well-formed event of the expected trigger type."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "BadEvent", message)


class BadRequest(HttpError):
    """The client's request is unusable: invalid JSON (400), wrong content type (415), too large (413), too deep."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(status, code, message)


class NotFound(HttpError):
    def __init__(self, message: str = "no such resource") -> None:
        super().__init__(404, "NotFound", message)


class MethodNotAllowed(HttpError):
    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = tuple(allowed)
        allow = {"allow": ", ".join(self.allowed)}
        super().__init__(405, "MethodNotAllowed", "method not allowed for this path", allow)


class BadMessage(ValueError):
    """A queue message whose body cannot be used (no body, not JSON). The message names the problem only."""


# --------------------------------------------------------------------------------------------------- decoding


def decode_event(event: bytes | bytearray | memoryview | str | Mapping[str, Any] | Sequence[Any]) -> Any:
    """The event as decoded JSON. Already-decoded dicts/lists are returned as they are."""
    if isinstance(event, (bytes, bytearray, memoryview, str)):
        try:
            return jsonutil.loads(event)
        except jsonutil.JSONDecodeError:
            raise BadEvent("event is not valid JSON") from None
    if isinstance(event, (Mapping, list, tuple)):
        return event
    raise BadEvent("event must be JSON bytes, a string, an object or a list")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(_as_text(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _b64decode(text: str | bytes) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, padding optional, surrounding whitespace ignored)."""
    data = text.strip() if isinstance(text, (str, bytes)) else text
    if isinstance(data, str):
        data = data.encode("ascii", "strict")
    data = b"".join(data.split())
    if b"-" in data or b"_" in data:
        data = data.replace(b"-", b"+").replace(b"_", b"/")
    data += b"=" * (-len(data) % 4)
    return base64.b64decode(data, validate=True)


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping. Iterates over lowercase names."""

    __slots__ = ("_items",)

    def __init__(self, raw: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        items: dict[str, str] = {}
        pairs = raw.items() if isinstance(raw, Mapping) else (raw or ())
        for name, value in pairs:
            key = str(name).lower()
            text = _as_text(value)
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


# --------------------------------------------------------------------------------------------------- HTTP event


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
            self._query = {str(k): _as_text(v) for k, v in raw.items()}
        return self._query

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

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
                    self._body = _b64decode(text)
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
    def user_agent(self) -> str | None:
        ua = self._http.get("userAgent")
        return ua if isinstance(ua, str) else self.header("user-agent")

    @property
    def domain_name(self) -> str | None:
        name = (self.raw.get("requestContext") or {}).get("domainName")
        return name if isinstance(name, str) and name else self.header("host")

    def __repr__(self) -> str:  # no query, headers or body: they may carry tokens and PII
        return f"HttpEvent({self.method} {self.raw_path})"


# --------------------------------------------------------------------------------------------------- responses


def http_response(
    status: int,
    body: dict[str, Any] | list[Any] | bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> FcResponse:
    """An FC 3.0 HTTP response. dict/list -> JSON (``application/json``); str -> ``text/plain; charset=utf-8``;
    bytes -> base64 (``application/octet-stream``); None -> empty body. ``headers`` override the defaults; names
    are lowercased."""
    out: dict[str, str] = {}
    is_b64 = False
    if body is None:
        text = ""
    elif isinstance(body, (dict, list)):
        text = jsonutil.dumps_str(body)
        out["content-type"] = "application/json"
    elif isinstance(body, str):
        text = body
        out["content-type"] = "text/plain; charset=utf-8"
    elif isinstance(body, (bytes, bytearray, memoryview)):
        text = base64.b64encode(bytes(body)).decode("ascii")
        is_b64 = True
        out["content-type"] = "application/octet-stream"
    else:
        raise TypeError("http_response body must be dict, list, bytes, str or None")
    for name, value in (headers or {}).items():
        out[name.lower()] = value
    return {"statusCode": int(status), "headers": out, "isBase64Encoded": is_b64, "body": text}


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> FcResponse:
    """``{"error": {"code": <machine-readable>, "message": <human, no PII>}}``."""
    return http_response(status, {"error": {"code": code, "message": message}}, headers)


def _valid_response(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("statusCode"), int)
        and not isinstance(value.get("statusCode"), bool)
        and isinstance(value.get("headers", {}), dict)
    )


# --------------------------------------------------------------------------------------------------- router

RouteHandler = Callable[..., FcResponse]
"""``handler(event: HttpEvent, **path_params: str) -> FcResponse``."""
ErrorCallback = Callable[[BaseException], None]


class _Route:
    __slots__ = ("handler", "method", "segments", "template")

    def __init__(self, method: str, template: str, handler: RouteHandler) -> None:
        self.method = method
        self.template = template
        self.segments = _split_path(template)
        self.handler = handler
        for seg in self.segments:
            if seg.startswith("{") != seg.endswith("}") or seg == "{}":
                raise ValueError(f"bad path template segment {seg!r} in {template!r}")

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, seg in zip(self.segments, segments, strict=True):
            if pattern.startswith("{"):
                if not seg:
                    return None
                params[pattern[1:-1]] = unquote(seg)
            elif pattern != seg:
                return None
        return params


def _split_path(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


class Router:
    """A tiny method + path router for one FC HTTP function.

    ::

        router = Router(cors_origins=settings.cors_origins, on_error=log_exception)

        @router.route("GET", "/verifications/{merchant_biz_id}")
        def get_verification(event: HttpEvent, merchant_biz_id: str) -> FcResponse:
            ...  # path parameters arrive as keyword arguments (also in ``event.path_params``)
            return http_response(200, {...})

        def handler(event: bytes, context: Any) -> FcResponse:
            return router.handle(event)

    Unknown path -> 404 ``NotFound``; known path, other method -> 405 ``MethodNotAllowed`` with ``allow``.
    :class:`HttpError` raised by a route -> its error response. Any other exception -> ``on_error(exc)`` (log it
    there; the request id is the handler's logging context) and 500 ``InternalError`` without any detail.
    A trailing slash is ignored; path parameters match one non-empty segment and are URL-decoded.

    CORS: ``cors_origins`` lists allowed origins (``"*"`` allows any). A preflight (``OPTIONS`` with
    ``Origin`` and ``Access-Control-Request-Method``) for a known path from an allowed origin gets 204 with the
    ``Access-Control-Allow-*`` headers, from another origin 403 ``CorsOriginDenied``. Responses to allowed
    origins carry ``Access-Control-Allow-Origin`` and ``Vary: Origin``. An explicit ``OPTIONS`` route wins.
    No credentials mode: tokens travel in the ``Authorization`` header, not cookies.
    """

    def __init__(
        self,
        *,
        cors_origins: Iterable[str] = (),
        cors_allow_headers: Iterable[str] = ("authorization", "content-type"),
        cors_max_age: int = 600,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self._routes: list[_Route] = []
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)
        self.cors_allow_headers = tuple(h.lower() for h in cors_allow_headers)
        self.cors_max_age = cors_max_age
        self.on_error = on_error

    def route(self, method: str, path: str) -> Callable[[RouteHandler], RouteHandler]:
        def register(func: RouteHandler) -> RouteHandler:
            self.add_route(method, path, func)
            return func

        return register

    def add_route(self, method: str, path: str, handler: RouteHandler) -> None:
        self._routes.append(_Route(method.upper(), path, handler))

    def _allowed_origin(self, origin: str | None) -> str | None:
        if not origin or not self.cors_origins:
            return None
        if "*" in self.cors_origins:
            return "*"
        return origin if origin.rstrip("/") in self.cors_origins else None

    def _cors(self, event: HttpEvent | None, response: FcResponse) -> FcResponse:
        if event is None or not self.cors_origins:
            return response
        allowed = self._allowed_origin(event.header("origin"))
        headers = response.setdefault("headers", {})
        if allowed is not None:
            headers.setdefault("access-control-allow-origin", allowed)
        if "*" not in self.cors_origins:
            vary = headers.get("vary")
            headers["vary"] = f"{vary}, Origin" if vary else "Origin"
        return response

    def _preflight(self, event: HttpEvent, methods: list[str]) -> FcResponse:
        origin = event.header("origin")
        if not origin or not event.header("access-control-request-method"):
            return http_response(204, None, {"allow": ", ".join([*methods, "OPTIONS"])})
        allowed = self._allowed_origin(origin)
        if allowed is None:
            return error_response(403, "CorsOriginDenied", "origin not allowed")
        requested = [h.strip().lower() for h in (event.header("access-control-request-headers") or "").split(",")]
        headers = {
            "access-control-allow-origin": allowed,
            "access-control-allow-methods": ", ".join([*methods, "OPTIONS"]),
            "access-control-max-age": str(self.cors_max_age),
        }
        allow_headers = [h for h in requested if h in self.cors_allow_headers]
        if allow_headers:
            headers["access-control-allow-headers"] = ", ".join(allow_headers)
        return http_response(204, None, headers)

    def _dispatch(self, event: HttpEvent) -> FcResponse:
        segments = _split_path(event.raw_path)
        methods: list[str] = []
        for route in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method == event.method:
                event.path_params = params
                response = route.handler(event, **params)
                if not _valid_response(response):
                    raise TypeError("route handler did not return an FC response dict")
                return response
            if route.method not in methods:
                methods.append(route.method)
        if not methods:
            raise NotFound()
        if event.method == "OPTIONS":
            return self._preflight(event, methods)
        raise MethodNotAllowed(methods)

    def handle(self, event: bytes | bytearray | str | Mapping[str, Any] | HttpEvent) -> FcResponse:
        """Parse ``event`` (raw bytes/str/dict, or an :class:`HttpEvent`) and run the matching route.

        Always returns an FC response, never raises: pass the raw event so that a malformed one becomes 400."""
        parsed: HttpEvent | None = None
        try:
            parsed = event if isinstance(event, HttpEvent) else HttpEvent.from_bytes(event)
            response = self._dispatch(parsed)
        except HttpError as exc:
            response = exc.to_response()
        except Exception as exc:
            if self.on_error is not None:
                with contextlib.suppress(Exception):  # the error hook must never turn a 500 into a crash
                    self.on_error(exc)
            response = error_response(500, "InternalError", "internal error")
        return self._cors(parsed, response)

    dispatch = handle
    __call__ = handle


# --------------------------------------------------------------------------------------------------- queue


class QueueMessage:
    """One queue message. ``body`` is bytes (JSON text as we send it, base64-decoded when it was encoded);
    ``error`` is set (and ``body`` empty) when the message could not be read at all."""

    __slots__ = ("body", "encoding", "error", "id", "raw", "request_id")

    def __init__(
        self,
        id: str,
        body: bytes,
        raw: Any,
        *,
        error: str | None = None,
        encoding: Literal["json", "base64", "raw", "none"] = "json",
        request_id: str | None = None,
    ) -> None:
        self.id = id
        self.body = body
        self.raw = raw
        self.error = error
        self.encoding = encoding
        self.request_id = request_id

    @property
    def ok(self) -> bool:
        return self.error is None

    def json(self) -> Any:
        """The body as JSON; :class:`BadMessage` when the message is unreadable or its body is not JSON."""
        if self.error is not None:
            raise BadMessage(self.error)
        try:
            return jsonutil.loads(self.body)
        except jsonutil.JSONDecodeError:
            raise BadMessage("message body is not JSON (nor base64-encoded JSON)") from None

    def __repr__(self) -> str:  # never the body: it may carry PII
        return f"QueueMessage(id={self.id!r}, encoding={self.encoding!r}, error={self.error!r})"


def _is_json(data: bytes | str) -> bool:
    try:
        jsonutil.loads(data)
    except jsonutil.JSONDecodeError:
        return False
    return True


def decode_message_body(body: Any) -> tuple[bytes, Literal["json", "base64", "raw"]]:
    """Our bodies are JSON. Rule: plain JSON first; else base64 whose decoded bytes are JSON; else the raw text.

    JSON objects/arrays cannot be valid base64 (``{``/``[`` are outside the alphabet), so a JSON body is never
    mistaken for base64. An already-decoded object (some EventBridge transforms) is re-encoded as JSON.
    """
    if isinstance(body, (dict, list)):
        return jsonutil.dumps(body), "json"
    text = _as_text(body)
    raw = text.encode("utf-8", "surrogatepass")
    if _is_json(raw):
        return raw, "json"
    try:
        decoded = _b64decode(text)
    except (binascii.Error, ValueError):
        return raw, "raw"
    if decoded and _is_json(decoded):
        return decoded, "base64"
    return raw, "raw"


_BODY_KEYS = ("messageBody", "MessageBody", "Message", "message")
_ID_KEYS = ("messageId", "MessageId", "MessageID")


def _first(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _message(item: Any, index: int) -> QueueMessage:
    if not isinstance(item, Mapping):
        return QueueMessage(f"#{index}", b"", item, error="queue event item is not an object", encoding="none")
    data: Any = item.get("data")
    if isinstance(data, str):  # a CloudEvent whose data arrived as a JSON string
        try:
            data = jsonutil.loads(data)
        except jsonutil.JSONDecodeError:
            data = None
    # CloudEvent (EventBridge) carries the MNS message in data; the plain MNS shapes carry it at the top level
    source = data if isinstance(data, Mapping) else item
    msg_id = _first(source, _ID_KEYS) or item.get("id") or f"#{index}"
    request_id = source.get("requestId") or source.get("RequestId")
    body = _first(source, _BODY_KEYS)
    if body is None:
        return QueueMessage(
            str(msg_id), b"", item, error="queue message has no messageBody", encoding="none",
            request_id=_as_text(request_id) or None,
        )
    payload, encoding = decode_message_body(body)
    return QueueMessage(str(msg_id), payload, item, encoding=encoding, request_id=_as_text(request_id) or None)


def parse_queue_event(event: bytes | bytearray | str | Mapping[str, Any] | Sequence[Any]) -> list[QueueMessage]:
    """Messages of an MNS queue trigger event: a list of CloudEvents (batch), one CloudEvent, or a plain MNS
    message object (``MessageId``/``MessageBody``/``Message``). Raises :class:`BadEvent` only when the event as a
    whole is not JSON or neither an object nor a list; unreadable messages carry ``error``."""
    raw = decode_event(event)
    if isinstance(raw, Mapping):
        return [_message(raw, 0)]
    if isinstance(raw, (list, tuple)):
        return [_message(item, i) for i, item in enumerate(raw)]
    raise BadEvent("queue event must be a JSON object or a list")


# --------------------------------------------------------------------------------------------------- timer


class TimerEvent:
    """An FC timer trigger event ``{"triggerTime", "triggerName", "payload"}``."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    @classmethod
    def from_bytes(cls, event: bytes | bytearray | str | Mapping[str, Any]) -> TimerEvent:
        raw = decode_event(event)
        if not isinstance(raw, Mapping) or not isinstance(raw.get("triggerTime"), str):
            raise BadEvent("timer event must be an object with triggerTime")
        return cls(dict(raw))

    @property
    def trigger_time(self) -> str:
        return str(self.raw["triggerTime"])

    @property
    def trigger_name(self) -> str:
        return _as_text(self.raw.get("triggerName"))

    @property
    def payload(self) -> str:
        return _as_text(self.raw.get("payload"))

    def __repr__(self) -> str:
        return f"TimerEvent({self.trigger_name!r} at {self.trigger_time})"


# --------------------------------------------------------------------------------------------------- dispatch

EventKind = Literal["http", "queue", "timer"]


def event_kind(event: Any) -> EventKind | None:
    """Which trigger produced an already-decoded event (see :func:`decode_event`); None when unknown.

    For functions with several triggers (result_fetcher: HTTP callback + recheck queue)."""
    if isinstance(event, (list, tuple)):
        return "queue"
    if not isinstance(event, Mapping):
        return None
    ctx = event.get("requestContext")
    if isinstance(ctx, Mapping) and isinstance(ctx.get("http"), Mapping):
        return "http"
    if "triggerTime" in event and "triggerName" in event:
        return "timer"
    data = event.get("data")
    if ("specversion" in event and isinstance(data, (Mapping, str))) or _first(event, _BODY_KEYS) is not None:
        return "queue"
    return None
