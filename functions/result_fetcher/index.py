"""FC 3.0 handler for the result_fetcher function. Not implemented yet (see the functions issue): it answers so, honestly."""

from __future__ import annotations

from typing import Any


def handler(event: bytes, context: Any) -> dict[str, Any]:
    return {
        "statusCode": 501,
        "headers": {"content-type": "application/json"},
        "isBase64Encoded": False,
        "body": '{"error": {"code": "NotImplemented", "message": "the result_fetcher function is not implemented yet"}}',
    }
