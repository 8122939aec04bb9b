"""A tiny method + path router for one FC HTTP function, with CORS."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from urllib.parse import unquote

from .errors import BadRequest, HttpError, MethodNotAllowed, NotFound
from .http import HttpEvent
from .responses import FcResponse, error_response, http_response

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

RouteHandler = Callable[..., FcResponse]
"""``handler(event: HttpEvent, **path_params: str) -> FcResponse``."""
ErrorCallback = Callable[[BaseException], None]


def _valid_response(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("statusCode"), int)
        and not isinstance(value.get("statusCode"), bool)
        and isinstance(value.get("headers", {}), dict)
    )


class _Route:
    __slots__ = ("handler", "max_body_bytes", "method", "segments", "template")

    def __init__(self, method: str, template: str, handler: RouteHandler, max_body_bytes: int | None) -> None:
        self.method = method
        self.template = template
        self.segments = _split_path(template)
        self.handler = handler
        self.max_body_bytes = max_body_bytes
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
    Large requests are refused before they are read: an event bigger than ``max_event_bytes`` (raw bytes or text)
    is 413 ``PayloadTooLarge`` before it is even parsed, and a route given ``max_body_bytes`` answers 413 before
    its handler runs when the body is certainly larger (declared ``Content-Length``, or the size of the body's
    text; nothing is decoded). A handler then authenticates before it reads the body.
    :class:`HttpError` raised by a route -> its error response. Any other exception -> ``on_error(exc)`` (log it
    there; the request id is the handler's logging context) and 500 ``InternalError`` without any detail.
    A trailing slash is ignored; path parameters match one non-empty segment and are URL-decoded.

    CORS: ``cors_origins`` lists allowed origins (``"*"`` allows any). A preflight (``OPTIONS`` with
    ``Origin`` and ``Access-Control-Request-Method``) for a known path from an allowed origin gets 204 with the
    ``Access-Control-Allow-*`` headers, from another origin 403 ``CorsOriginDenied``. Responses to allowed
    origins carry ``Access-Control-Allow-Origin``, ``Access-Control-Expose-Headers`` (``cors_expose_headers``:
    the response headers a page may read beyond the safelisted ones) and ``Vary: Origin``. An explicit
    ``OPTIONS`` route wins.
    No credentials mode: tokens travel in the ``Authorization`` header, not cookies.
    """

    def __init__(
        self,
        *,
        cors_origins: Iterable[str] = (),
        cors_allow_headers: Iterable[str] = ("authorization", "content-type"),
        cors_max_age: int = 600,
        cors_expose_headers: Iterable[str] = ("retry-after",),
        on_error: ErrorCallback | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self._routes: list[_Route] = []
        self.max_event_bytes = max_event_bytes
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)
        self.cors_allow_headers = tuple(h.lower() for h in cors_allow_headers)
        self.cors_max_age = cors_max_age
        self.cors_expose_headers = tuple(h.lower() for h in cors_expose_headers)
        self.on_error = on_error

    def route(
        self, method: str, path: str, *, max_body_bytes: int | None = None
    ) -> Callable[[RouteHandler], RouteHandler]:
        def register(func: RouteHandler) -> RouteHandler:
            self.add_route(method, path, func, max_body_bytes=max_body_bytes)
            return func

        return register

    def add_route(self, method: str, path: str, handler: RouteHandler, *, max_body_bytes: int | None = None) -> None:
        self._routes.append(_Route(method.upper(), path, handler, max_body_bytes))

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
            # Not CORS-safelisted: without this the browser hides how long a 429/503 asks to wait (and the rest).
            headers.setdefault("access-control-expose-headers", ", ".join(self.cors_expose_headers))
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
                if route.max_body_bytes is not None:
                    event.refuse_body_over(route.max_body_bytes)
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
        raise MethodNotAllowed([*methods, "OPTIONS"])  # what a plain OPTIONS answers too (RFC 9110 10.2.1)

    def handle(self, event: bytes | bytearray | str | Mapping[str, Any] | HttpEvent) -> FcResponse:
        """Parse ``event`` (raw bytes/str/dict, or an :class:`HttpEvent`) and run the matching route.

        Always returns an FC response, never raises: pass the raw event so that a malformed one becomes 400."""
        parsed: HttpEvent | None = None
        try:
            raw = isinstance(event, (bytes, bytearray, str))
            if raw and self.max_event_bytes is not None and len(event) > self.max_event_bytes:  # type: ignore[arg-type]
                raise BadRequest("PayloadTooLarge", "request too large", 413)
            parsed = event if isinstance(event, HttpEvent) else HttpEvent.from_bytes(event)
            response = self._dispatch(parsed)
        except HttpError as exc:
            response = exc.to_response()
        except Exception as exc:
            if self.on_error is not None:
                try:  # noqa: SIM105 - the error hook must never turn a 500 into a crash (no contextlib at start)
                    self.on_error(exc)
                except Exception:  # noqa: S110 - as above
                    pass
            response = error_response(500, "InternalError", "internal error")
        return self._cors(parsed, response)

    dispatch = handle
    __call__ = handle
