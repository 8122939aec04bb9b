"""FC 3.0 HTTP trigger responses: ``{"statusCode", "headers", "isBase64Encoded", "body"}``."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from shared import jsonutil

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

FcResponse = dict[str, "Any"]  # a name importers use at run time: typing's ``Any`` as a string
"""An FC 3.0 HTTP trigger response: ``statusCode``, ``headers``, ``isBase64Encoded``, ``body``."""


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


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    details: Mapping[str, Any] | None = None,
) -> FcResponse:
    """``{"error": {"code": <machine-readable>, "message": <human, no PII>, **details}}``; ``details`` are further
    machine-readable members of the error (e.g. the allowed values), never ``code`` or ``message``."""
    error: dict[str, Any] = {"code": code, "message": message}
    error.update((k, v) for k, v in (details or {}).items() if k not in error)
    return http_response(status, {"error": error}, headers)
