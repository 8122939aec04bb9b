"""The errors of the FC adapters. Every :class:`HttpError` maps to one response ``{"error": {"code", "message"}}``;
a malformed event is :class:`BadEvent` (400), an unusable request body :class:`BadRequest` (4xx), and an unreadable
queue message :class:`BadMessage` (reported on its message, never failing the batch)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .responses import FcResponse, error_response

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any


class HttpError(Exception):
    """An error that maps to one HTTP error response ``{"error": {"code", "message"}}``.

    ``message`` is shown to the client: it names fields, never their values (no PII, no tokens); ``details`` are
    further machine-readable members of the error object (e.g. ``allowed``: the values that would be accepted).
    """

    status: int = 400
    code: str = "BadRequest"

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        self.details: dict[str, Any] = dict(details or {})

    def to_response(self) -> FcResponse:
        return error_response(self.status, self.code, self.message, self.headers, self.details)

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
