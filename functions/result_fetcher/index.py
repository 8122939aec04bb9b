"""FC 3.0 handler: result_fetcher. Not implemented yet (functions issue); it says so honestly."""

from __future__ import annotations

from typing import Any


def handler(event: bytes, context: Any) -> dict[str, Any]:
    return {
        "statusCode": 501,
        "headers": {"content-type": "application/json"},
        "isBase64Encoded": False,
        "body": '{"error": {"code": "NotImplemented", "message": "not implemented yet"}}',
    }
