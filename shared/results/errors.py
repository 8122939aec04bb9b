"""Typed errors of :mod:`shared.results`. Messages name the field, never its value (values are PII)."""

from __future__ import annotations


class ResultParseError(ValueError):
    """The CheckResult response itself is unusable (not JSON, no ``Result`` object, ``Passed`` missing or invalid).

    ``code`` is a stable machine-readable code (``MalformedResult``); ``field`` names the offending part of the
    response (``body``, ``Result``, ``Result.Passed``...). Never raised for unknown sub codes or unknown/missing
    optional fields.
    """

    def __init__(self, field: str, problem: str, *, code: str = "MalformedResult") -> None:
        super().__init__(f"{code}: CheckResult {field} {problem}")
        self.code = code
        self.field = field
        self.problem = problem


class ImageDecodeError(ResultParseError):
    """An image's base64 text could not be decoded; raised only when ``Image.data`` is read."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "is not valid base64", code="InvalidImage")
