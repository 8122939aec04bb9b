"""``invoke <function> --event-file e.json``: run a function with an event through FC's InvokeFunction API.

Uses the official FC 2.0 API client (``fc2``, API version 2016-08-15), against the local gateway
(``./scripts/dev`` answers ``POST /2016-08-15/services/{service}/functions/{function}/invocations``) or a real
Function Compute endpoint (``https://<account-id>.<region>.fc.aliyuncs.com``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared import jsonutil

from .common import EXIT_FAILED, EXIT_OK, Context, UsageError

DEFAULT_SERVICE = "ekyc-dev"
#: The keys the local stack accepts when none are configured (the sandbox's; see ``devstack/invoke_api.py``).
LOCAL_KEY = ("sandbox", "sandbox-secret")
MAX_EVENT_BYTES = 6 * 1024 * 1024  # FC's limit for a synchronous invocation payload


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", help="function name, e.g. result_fetcher locally, kyc-result-fetcher on FC")
    parser.add_argument("--event-file", required=True, type=Path, help="the event (JSON), e.g. tests/events/*.json")
    parser.add_argument(
        "--endpoint",
        help="FC API endpoint (default: KYC_FC_ENDPOINT, else http://127.0.0.1:${KYC_HTTP_PORT:-9000})",
    )
    parser.add_argument("--service", help=f"FC 2.0 service name (default: KYC_FC_SERVICE, else {DEFAULT_SERVICE})")
    parser.add_argument("--qualifier", help="version or alias (default: LATEST)")
    parser.add_argument("--async", dest="is_async", action="store_true",
                        help="asynchronous invocation: FC answers 202 and runs (and retries) it in the background")


def default_endpoint(env: Any) -> str:
    return env.get("KYC_FC_ENDPOINT") or f"http://127.0.0.1:{env.get('KYC_HTTP_PORT') or 9000}"


def _is_local(endpoint: str) -> bool:
    host = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


def _credentials(ctx: Context, endpoint: str) -> tuple[str, str, str]:
    key_id = ctx.env.get("ALIBABA_CLOUD_ACCESS_KEY_ID") or ""
    secret = ctx.env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET") or ""
    token = ctx.env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or ""
    if key_id and secret:
        return key_id, secret, token
    if _is_local(endpoint):
        ctx.note("no ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET: using the local stack's default key")
        return LOCAL_KEY[0], LOCAL_KEY[1], ""
    from shared.config import ConfigError  # noqa: PLC0415

    raise ConfigError("ALIBABA_CLOUD_ACCESS_KEY_ID", "is required to invoke a function on Function Compute")


def _read_event(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_EVENT_BYTES:
            raise UsageError("--event-file is larger than FC accepts (6 MB)")
        data = path.read_bytes()
    except OSError:
        raise UsageError("--event-file cannot be read") from None
    try:
        jsonutil.loads(data)
    except jsonutil.JSONDecodeError:
        raise UsageError("--event-file is not JSON") from None
    return data


def run(args: argparse.Namespace, ctx: Context) -> int:
    import fc2  # noqa: PLC0415 - the operator's tool only
    from fc2.fc_exceptions import FcError  # noqa: PLC0415

    payload = _read_event(args.event_file)
    endpoint = args.endpoint or default_endpoint(ctx.env)
    service = args.service or ctx.env.get("KYC_FC_SERVICE") or DEFAULT_SERVICE
    key_id, secret, token = _credentials(ctx, endpoint)
    client = fc2.Client(endpoint=endpoint, accessKeyID=key_id, accessKeySecret=secret, securityToken=token,
                        Timeout=float(ctx.env.get("KYC_FC_TIMEOUT") or 120))
    headers = {"x-fc-invocation-type": "Async" if args.is_async else "Sync"}
    try:
        response = client.invoke_function(service, args.function, payload=payload, headers=headers,
                                          qualifier=args.qualifier)
    except FcError as exc:
        return _report_error(ctx, exc)
    except OSError as exc:  # requests' ConnectionError and timeouts are OSErrors
        ctx.stderr.write(f"error: TransportError: cannot reach {endpoint} ({type(exc).__name__})\n")
        return EXIT_FAILED
    request_id = response.headers.get("x-fc-request-id", "")
    if args.is_async:
        ctx.print_json({"accepted": True, "requestId": request_id})
        return EXIT_OK
    ctx.note(f"request id {request_id}")
    data = response.data if isinstance(response.data, bytes) else str(response.data).encode()
    ctx.stdout.write(data.decode("utf-8", "replace") + "\n")
    return EXIT_OK


def _report_error(ctx: Context, exc: Any) -> int:
    """FcError carries FC's error JSON as its message; function errors come with ``errorMessage``/``errorType``."""
    try:
        detail = jsonutil.loads(exc.message)
    except (jsonutil.JSONDecodeError, TypeError):
        detail = {"message": str(exc.message)[:500]}
    ctx.print_json({"error": detail, "status": exc.status_code})
    code = "FunctionError"
    if isinstance(detail, dict):
        code = str(detail.get("ErrorCode") or detail.get("errorType") or code)
    ctx.stderr.write(f"error: {code}: the invocation failed (HTTP {exc.status_code})\n")
    return EXIT_FAILED
