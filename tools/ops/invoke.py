"""``invoke <function> --event-file e.json``: run a function with an event through Function Compute's API.

FC 3.0 (what s.yaml deploys): ``InvokeFunction``, ``POST /2023-03-30/functions/{name}/invocations``
(:mod:`tools.fc3`), ACS3-signed with :mod:`shared.signing`, sent with :mod:`http.client`: one attempt, a short connect
deadline, so an unreachable endpoint fails in seconds with one line. The function may be named by its folder
(``result_fetcher``) or as s.yaml deploys it (``kyc-result-fetcher``; :mod:`tools.deployment`, ``KYC_NAME_PREFIX``).
Where it goes:

* ``--endpoint`` / ``KYC_FC_ENDPOINT``: that base URL;
* else ``--account-id`` / ``KYC_FC_ACCOUNT_ID``: ``https://<account>.<region>.fc.aliyuncs.com`` with ``--region`` /
  ``KYC_REGION`` / s.yaml's default region;
* else the local gateway of ``./scripts/dev`` (``http://127.0.0.1:${KYC_HTTP_PORT:-9000}``).

Synchronous calls ask for the log tail (``x-fc-log-type: Tail``) and print it, decoded, on stderr; the result goes
to stdout. A function error (``x-fc-error-type``) or an API error (``{"Code", "Message"}``) exits 1.

``--service`` selects FC 2.0's API instead (``/2016-08-15/services/{service}/functions/{name}/invocations``, through
the official ``fc2`` client): it reaches functions created in FC 2.0, which live in a service; s.yaml's functions
are FC 3.0 ones and have none.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import SplitResult

from shared import jsonutil
from shared.config import ConfigError
from shared.redaction import scrub_text
from shared.signing import Credentials, canonical_query_string, sign_acs3_request
from shared.urls import UnsafeUrl, check_url
from tools import fc3
from tools.credentials import KEY_ID_VARIABLE, SANDBOX_KEY, AccessKey, key_from_env
from tools.deployment import default_region, deployed_functions
from tools.localstack import no_stack_hint

from .common import EXIT_FAILED, EXIT_OK, Context, UsageError, caller_path

T = TypeVar("T")

MAX_EVENT_BYTES = 6 * 1024 * 1024  # FC's limit for an invocation payload (the smaller, asynchronous one)
CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 120.0
#: FC's longest run of a function: "The maximum execution time of a function is 24 hours" ("Function Compute: What
#: can I do if my function exceeds the timeout period?", Feb 01, 2024).
MAX_READ_TIMEOUT = 86400.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", help="function folder (result_fetcher) or deployed name (kyc-result-fetcher)")
    parser.add_argument("--event-file", required=True, type=caller_path,
                        help="the event (JSON), e.g. tests/events/*.json")
    parser.add_argument("--endpoint", help="FC API base URL (default: KYC_FC_ENDPOINT, else FC of --account-id, "
                        "else the local gateway http://127.0.0.1:${KYC_HTTP_PORT:-9000})")
    parser.add_argument("--account-id", help="Alibaba Cloud account id: FC 3.0's endpoint in --region "
                        "(default: KYC_FC_ACCOUNT_ID)")
    parser.add_argument("--region", help="FC region with --account-id (default: KYC_REGION, else s.yaml's)")
    parser.add_argument("--qualifier", help="version or alias (default: LATEST)")
    parser.add_argument("--async", dest="is_async", action="store_true",
                        help="asynchronous invocation: FC answers 202 and runs (and retries) it in the background")
    parser.add_argument("--no-log", dest="log_tail", action="store_false",
                        help="do not ask for the last 4 KB of the function's log (x-fc-log-type: Tail)")
    parser.add_argument("--service", help="use FC 2.0's API and this service (functions created in FC 2.0 only)")


def default_endpoint(env: Any) -> str:
    return env.get("KYC_FC_ENDPOINT") or f"http://127.0.0.1:{env.get('KYC_HTTP_PORT') or 9000}"


def endpoint_for(args: argparse.Namespace, env: Any) -> str:
    """The FC API base URL the invocation goes to (the module docstring's order), checked (:func:`checked_endpoint`)
    before a key is looked for or anything is sent."""
    if args.endpoint or env.get("KYC_FC_ENDPOINT"):
        endpoint = str(args.endpoint or env["KYC_FC_ENDPOINT"])
    elif account := args.account_id or env.get("KYC_FC_ACCOUNT_ID"):
        if not account.isdigit():
            raise UsageError("--account-id must be the numeric Alibaba Cloud account id")
        endpoint = fc3.public_endpoint(account, args.region or default_region(env))
    else:
        endpoint = default_endpoint(env)
    if args.service and not endpoint.startswith(("http://", "https://")):
        endpoint = f"https://{endpoint}"  # as the fc2 SDK reads one without a scheme (fc2.Client._normalize_endpoint)
    checked_endpoint(endpoint)
    return endpoint


def checked_endpoint(endpoint: str) -> SplitResult:
    """The parts of an FC API base URL; a :class:`UsageError` unless it is one (the one URL rule, ``check_url``:
    scheme, host, port, labels, no unsafe character)."""
    try:
        return check_url(endpoint)
    except UnsafeUrl as exc:
        raise UsageError(f"the FC endpoint must be an http(s) URL such as https://<account>.<region>.fc.aliyuncs.com "
                         f"({exc})") from None


def function_name(name: str, env: Any) -> str:
    """The deployed name of a function folder (``sweeper`` -> ``kyc-sweeper``); any other name as it is."""
    by_folder = {folder: deployed for deployed, folder in deployed_functions(env).items()}
    return by_folder.get(name, name)


def _is_local(endpoint: str) -> bool:
    """Whether ``endpoint`` (checked by :func:`endpoint_for`) is this machine's: the local gateway."""
    return (checked_endpoint(endpoint).hostname or "") in {"127.0.0.1", "localhost", "::1"}


def _credentials(ctx: Context, endpoint: str) -> AccessKey:
    """The environment's key; against a local gateway without one, the sandbox's (what the local stack accepts
    when none is configured: ``devstack/invoke_api.py``)."""
    key = key_from_env(ctx.env)
    if key is not None:
        return key
    if _is_local(endpoint):
        ctx.note(f"no {KEY_ID_VARIABLE}/SECRET: using the local stack's default key")
        return SANDBOX_KEY
    raise ConfigError(KEY_ID_VARIABLE, "is required to invoke a function on Function Compute")


def _read_timeout(ctx: Context) -> float:
    raw = ctx.env.get("KYC_FC_TIMEOUT") or ""
    try:
        value = float(raw) if raw else DEFAULT_READ_TIMEOUT
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_READ_TIMEOUT:  # also refuses NaN; inf would overflow the socket's timeout
        raise UsageError(f"KYC_FC_TIMEOUT must be a positive number of seconds, at most {MAX_READ_TIMEOUT}")
    return value


def _read_event(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_EVENT_BYTES:
            raise UsageError("--event-file is larger than FC accepts (6 MB)")
        data = path.read_bytes()
    except OSError:
        raise UsageError(f"--event-file cannot be read ({path})") from None
    try:
        jsonutil.loads(data)
    except jsonutil.JSONDecodeError:
        raise UsageError("--event-file is not JSON") from None
    return data


# --- FC 3.0 ------------------------------------------------------------------------------------------------


class AnswerLost(OSError):
    """The request was sent (in part or whole) and its answer did not come, in time or whole: the function may have
    run (review be: "cannot reach" invited a second, billed invocation)."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


def invoke_function(
    endpoint: str,
    credentials: Credentials,
    name: str,
    payload: bytes,
    *,
    invocation_type: str = "Sync",
    log_tail: bool = False,
    qualifier: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> Answer:
    """One signed InvokeFunction request, one attempt (no retry: an invocation is not idempotent). Raises
    :class:`OSError` when the endpoint cannot be reached (nothing was sent), :class:`AnswerLost` when the request went
    out and no whole HTTP answer came back within ``read_timeout`` of connecting: a deadline for the whole exchange,
    not per read (an endpoint sending one byte a second would otherwise hold the command for ever)."""
    parts = checked_endpoint(endpoint)
    host, port = parts.hostname or "", parts.port  # check_url refuses a URL without a host
    path = fc3.invocations_path(name)
    query = {"qualifier": qualifier} if qualifier else {}
    extra = {fc3.HEADER_INVOCATION_TYPE: invocation_type}
    if log_tail:
        extra[fc3.HEADER_LOG_TYPE] = fc3.LOG_TAIL
    if credentials.security_token:
        extra["x-acs-accesskey-id"] = credentials.access_key_id  # sent with STS tokens, as the SDK does
    headers = sign_acs3_request(
        credentials=credentials, method="POST", host=parts.netloc, action=fc3.ACTION, version=fc3.API_VERSION,
        query=query, body=payload, content_type=fc3.EVENT_CONTENT_TYPE, pathname=path, extra_headers=extra,
    )
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(host, port, timeout=connect_timeout)
    deadline: threading.Timer | None = None
    expired = threading.Event()
    try:
        connection.connect()
        sock = connection.sock
        if sock is not None:
            sock.settimeout(read_timeout)  # the function may run for minutes; connecting may not

            def expire() -> None:  # ends every read in progress: the exchange fails as cut
                expired.set()
                try:  # noqa: SIM105 - the watchdog's thread: nothing to tell anyone
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            deadline = threading.Timer(read_timeout, expire)
            deadline.daemon = True
            deadline.start()
        target = f"{path}?{canonical_query_string(query)}" if query else path
        try:
            connection.request("POST", target, body=payload, headers=headers)
            response = connection.getresponse()
            delimited = response.chunked or response.length is not None  # else the body ends when the socket does
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        except (OSError, http.client.HTTPException) as exc:  # a timeout, a reset, an answer that is not HTTP or cut
            raise AnswerLost(f"no whole answer within {read_timeout:g} s" if expired.is_set()
                             else type(exc).__name__) from exc
        if expired.is_set() and not delimited:  # the shutdown looked like the end of the body: it may be cut short
            raise AnswerLost(f"no whole answer within {read_timeout:g} s")
        return answer
    finally:
        if deadline is not None:
            deadline.cancel()
        connection.close()


def _decoded_log(answer: Answer) -> str | None:
    raw = answer.headers.get(fc3.HEADER_LOG_RESULT)
    if not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return "(x-fc-log-result is not base64)"


def _json_or_text(body: bytes) -> Any:
    """An error's body, as printed: scrubbed as the ``error:`` lines are (an API's signature error may quote the
    request it refused, security token and all)."""
    try:
        return _scrubbed(jsonutil.loads(body))
    except jsonutil.JSONDecodeError:
        return {"message": scrub_text(body.decode("utf-8", "replace"))[:500]}


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    return value


def _run_fc3(args: argparse.Namespace, ctx: Context, payload: bytes) -> int:
    endpoint = endpoint_for(args, ctx.env)
    name = function_name(args.function, ctx.env)
    key = _credentials(ctx, endpoint)
    try:
        answer = invoke_function(
            endpoint, Credentials(key.access_key_id, key.access_key_secret, key.security_token), name, payload,
            invocation_type="Async" if args.is_async else "Sync", log_tail=args.log_tail and not args.is_async,
            qualifier=args.qualifier, read_timeout=_read_timeout(ctx),
        )
    except AnswerLost as exc:
        return _transport_error(ctx, endpoint, str(exc), sent=True)
    except OSError as exc:
        return _transport_error(ctx, endpoint, type(exc).__name__, sent=False)
    request_id = answer.headers.get(fc3.HEADER_REQUEST_ID, "")
    if not request_id and answer.status < 300:
        return _not_function_compute(ctx, endpoint, f"HTTP {answer.status}")
    log = _decoded_log(answer)
    if log is not None and log.strip():
        ctx.stderr.write(f"--- log tail of {name} (request {request_id}) ---\n{log.rstrip()}\n--- end of log ---\n")
    elif args.log_tail and not args.is_async and answer.status < 300:  # the function ran and logged nothing
        ctx.stderr.write(f"--- log tail of {name} (request {request_id}): empty ---\n")
    if answer.status >= 300:
        detail = _json_or_text(answer.body)
        ctx.print_json({"error": detail, "status": answer.status, "requestId": request_id})
        fields = detail if isinstance(detail, dict) else {}
        code = fields.get("Code") or fields.get("ErrorCode") or fields.get("errorCode") or "ApiError"
        message = fields.get("Message") or fields.get("ErrorMessage") or fields.get("errorMessage") or ""
        ctx.stderr.write(f"error: {scrub_text(str(code))}: {scrub_text(str(message)[:300])} (HTTP {answer.status})\n")
        return EXIT_FAILED
    error_type = answer.headers.get(fc3.HEADER_ERROR_TYPE)
    if error_type:
        detail = _json_or_text(answer.body)
        ctx.print_json({"error": detail, "errorType": error_type, "requestId": request_id})
        kind = detail.get("errorType") if isinstance(detail, dict) else None
        kind = scrub_text(str(kind or error_type))
        ctx.stderr.write(f"error: {kind}: the function failed ({scrub_text(error_type)})\n")
        return EXIT_FAILED
    if args.is_async:
        ctx.print_json({"accepted": True, "requestId": request_id})
        return EXIT_OK
    ctx.note(f"request id {request_id}")
    ctx.stdout.write(answer.body.decode("utf-8", "replace") + "\n")
    return EXIT_OK


def _not_function_compute(ctx: Context, endpoint: str, answered: str) -> int:
    """A success without ``x-fc-request-id``: FC answers every invocation with its request id (FC 2.0 and 3.0
    alike); a proxy's or a captive portal's page does not, and must not read as the function's result."""
    ctx.stderr.write(f"error: NotFunctionCompute: {endpoint} answered {answered} without {fc3.HEADER_REQUEST_ID}: "
                     "it is not Function Compute's API (or the local gateway); is the endpoint right?\n")
    return EXIT_FAILED


def _transport_error(ctx: Context, endpoint: str, cause: str, *, sent: bool) -> int:
    if sent:
        ctx.stderr.write(f"error: AnswerLost: the invocation was sent to {endpoint} and its answer did not come "
                         f"({cause}): the function may have run; read its logs before invoking it again\n")
    else:
        hint = no_stack_hint(ctx.env) if _is_local(endpoint) else None
        if hint:  # the local gateway is ./scripts/dev's: say that none runs, as the other commands do
            ctx.note(hint)
        ctx.stderr.write(f"error: TransportError: cannot reach {endpoint} ({cause})\n")
    return EXIT_FAILED


# --- FC 2.0 ------------------------------------------------------------------------------------------------


def _run_fc2(args: argparse.Namespace, ctx: Context, payload: bytes) -> int:
    import fc2  # noqa: PLC0415 - the operator's tool only
    import requests  # noqa: PLC0415 - fc2's transport
    from fc2 import client as fc2_client  # noqa: PLC0415
    from fc2.fc_exceptions import FcError  # noqa: PLC0415

    endpoint = endpoint_for(args, ctx.env)
    key = _credentials(ctx, endpoint)
    # One attempt, as on FC 3.0: the SDK retries 5 times with backoff (about 30 s against a closed port), also on
    # 502/504 — and an invocation is not idempotent. Its Timeout goes to requests as is: (connect, read).
    fc2_client.retries = 0
    client = fc2.Client(endpoint=endpoint, accessKeyID=key.access_key_id, accessKeySecret=key.access_key_secret,
                        securityToken=key.security_token or "", Timeout=(CONNECT_TIMEOUT, _read_timeout(ctx)))
    headers = {"x-fc-invocation-type": "Async" if args.is_async else "Sync"}
    read_timeout = _read_timeout(ctx)
    try:
        response = _within(CONNECT_TIMEOUT + read_timeout, lambda: client.invoke_function(
            args.service, args.function, payload=payload, headers=headers, qualifier=args.qualifier))
    except _Overdue:  # requests' timeouts are per read: the whole exchange is bounded here
        return _transport_error(ctx, endpoint, f"no whole answer within {read_timeout:g} s", sent=True)
    except FcError as exc:
        detail = _json_or_text(str(exc.message).encode())
        ctx.print_json({"error": detail, "status": exc.status_code})
        code = "FunctionError"
        if isinstance(detail, dict):
            code = str(detail.get("ErrorCode") or detail.get("errorType") or code)
        ctx.stderr.write(f"error: {scrub_text(code)}: the invocation failed (HTTP {exc.status_code})\n")
        return EXIT_FAILED
    except OSError as exc:  # requests' ConnectionError and timeouts are OSErrors
        sent = not isinstance(exc, requests.exceptions.ConnectionError)  # ConnectTimeout is one; ReadTimeout is not
        return _transport_error(ctx, endpoint, type(exc).__name__, sent=sent)
    request_id = response.headers.get(fc3.HEADER_REQUEST_ID, "")
    if not request_id:  # the SDK raised FcError for anything but a 2xx
        return _not_function_compute(ctx, endpoint, "a success")  # FcHttpResponse keeps no status
    if args.is_async:
        ctx.print_json({"accepted": True, "requestId": request_id})
        return EXIT_OK
    ctx.note(f"request id {request_id}")
    data = response.data if isinstance(response.data, bytes) else str(response.data).encode()
    ctx.stdout.write(data.decode("utf-8", "replace") + "\n")
    return EXIT_OK


class _Overdue(Exception):
    """The call of :func:`_within` did not end in time."""


def _within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``'s result, or its exception; :class:`_Overdue` once ``seconds`` pass first. The call goes on in a
    daemon thread, which ends with this short-lived process (the FC 2.0 SDK exposes no socket to shut)."""
    outcome: list[Any] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))
        done.set()

    threading.Thread(target=target, name="kyc-invoke-fc2", daemon=True).start()
    if not done.wait(seconds):
        raise _Overdue
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return cast(T, value)


def run(args: argparse.Namespace, ctx: Context) -> int:
    payload = _read_event(args.event_file)
    if args.service:
        return _run_fc2(args, ctx, payload)
    return _run_fc3(args, ctx, payload)
