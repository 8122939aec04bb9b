"""tools.devstack.gateway: HTTP -> FC 3.0 events -> handler modules loaded by file path, on 127.0.0.1 port 0."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.fc import HttpEvent, http_response
from tools.devstack.gateway import FcContext, FunctionLoadError, Gateway, Route, make_http_event

# Test handlers: each records the raw event it received (in a module global) and answers from it.
ECHO = """
from __future__ import annotations
import base64, json
EVENTS = []
INIT_CALLS = []

def initialize(context):
    INIT_CALLS.append(context.function.name)

def handler(event, context):
    assert isinstance(event, bytes)
    EVENTS.append(json.loads(event))
    return {"statusCode": 200, "headers": {"content-type": "application/json", "x-fn": context.function.name},
            "isBase64Encoded": False, "body": json.dumps({"fn": context.function.name, "rid": context.request_id})}
"""

HANDLERS = {
    "echo": ECHO,
    "other": ECHO,
    "crash": "def handler(event, context):\n    raise RuntimeError('boom')\n",
    "badreturn": "def handler(event, context):\n    return 'not a dict'\n",
    "badstatus": "def handler(event, context):\n    return {'statusCode': 'two hundred', 'body': ''}\n",
    "binary": textwrap.dedent("""
        import base64
        def handler(event, context):
            return {"statusCode": 201, "headers": {"content-type": "image/png", "x-multi": ["a", "b"]},
                    "isBase64Encoded": True, "body": base64.b64encode(b"\\x89PNG\\x00\\xff").decode()}
    """),
    "initfail": textwrap.dedent("""
        from pathlib import Path
        def initialize(context):
            if (Path(__file__).parent / "FAIL").exists():
                raise RuntimeError("config missing")
        def handler(event, context):
            return {"statusCode": 200, "body": "ok"}
    """),
    "importfail": "raise ImportError('nope')\n",
    "queue": "def handler(event, context):\n    return {'got': event.decode(), 'region': context.region}\n",
}


@pytest.fixture
def functions_dir(tmp_path: Path) -> Path:
    for name, source in HANDLERS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.py").write_text(source)
    (tmp_path / "initfail" / "FAIL").touch()  # initfail's initialize fails until this file is removed
    return tmp_path


def extra(event: bytes, context: FcContext) -> dict[str, Any]:
    parsed = HttpEvent.from_bytes(event)
    return http_response(200, f"extra {parsed.method} {parsed.path}")


@pytest.fixture
def gateway(functions_dir: Path) -> Iterator[Gateway]:
    routes = [Route(f"/{name}", name) for name in HANDLERS] + [Route("/echo/deeper", "other")]
    with Gateway(functions_dir, routes, {"/": extra}, module_prefix="fc_test_gw_") as gw:
        yield gw


def request(
    gw: Gateway, method: str, target: str, body: bytes | None = None, headers: list[tuple[str, str]] | None = None
) -> tuple[int, http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    try:
        conn.putrequest(method, target)
        for name, value in headers or []:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return response.status, response, data
    finally:
        conn.close()


def last_event(gw: Gateway, name: str = "echo") -> dict[str, Any]:
    events: list[dict[str, Any]] = gw.function(name).EVENTS
    return events[-1]


# ------------------------------------------------------------------------------------------ event shape


def test_event_has_fc_v1_request_line_fields(gateway: Gateway) -> None:
    status, _, _ = request(gateway, "GET", "/echo/a%20b")
    event = last_event(gateway)
    assert status == 200
    assert event["version"] == "v1"
    assert event["rawPath"] == "/echo/a%20b"
    assert event["requestContext"]["http"]["path"] == "/echo/a b"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["http"]["protocol"] == "HTTP/1.1"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


def test_event_request_context_has_ids_and_times(gateway: Gateway) -> None:
    _, response, _ = request(gateway, "GET", "/echo", headers=[("User-Agent", "probe/1")])
    ctx = last_event(gateway)["requestContext"]
    assert ctx["requestId"] == response.getheader("x-fc-request-id")
    assert ctx["http"]["userAgent"] == "probe/1"
    assert ctx["domainName"] == f"127.0.0.1:{gateway.port}"
    assert ctx["timeEpoch"].isdigit() and ctx["time"].endswith("Z")


def test_query_parameters_are_decoded_and_repeats_comma_joined(gateway: Gateway) -> None:
    request(gateway, "GET", "/echo?a=1&b=x%20y&a=2&empty=")
    assert last_event(gateway)["queryParameters"] == {"a": "1,2", "b": "x y", "empty": ""}


def test_no_query_means_no_query_parameters(gateway: Gateway) -> None:
    request(gateway, "GET", "/echo")
    assert "queryParameters" not in last_event(gateway)


def test_repeated_headers_are_comma_joined(gateway: Gateway) -> None:
    request(gateway, "GET", "/echo", headers=[("X-Thing", "one"), ("x-thing", "two")])
    assert last_event(gateway)["headers"]["X-Thing"] == "one,two"


def test_headers_readable_through_the_adapter(gateway: Gateway) -> None:
    request(gateway, "GET", "/echo", headers=[("authorization", "Bearer t")])
    assert HttpEvent.from_bytes(last_event(gateway)).header("Authorization") == "Bearer t"


def test_json_body_is_sent_as_text(gateway: Gateway) -> None:
    request(gateway, "POST", "/echo", b'{"a": 1}', [("Content-Type", "application/json")])
    event = last_event(gateway)
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)


def test_binary_body_is_base64_encoded(gateway: Gateway) -> None:
    payload = b"\x00\x01\xfe\xff"
    request(gateway, "POST", "/echo", payload, [("Content-Type", "application/octet-stream")])
    event = last_event(gateway)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    assert HttpEvent.from_bytes(event).body == payload


def test_invalid_utf8_with_text_content_type_is_base64_encoded(gateway: Gateway) -> None:
    request(gateway, "POST", "/echo", b"\xff\xfe", [("Content-Type", "text/plain")])
    assert last_event(gateway)["isBase64Encoded"] is True


def test_empty_body_is_empty_string(gateway: Gateway) -> None:
    request(gateway, "GET", "/echo")
    event = last_event(gateway)
    assert (event["body"], event["isBase64Encoded"]) == ("", False)


def test_make_http_event_is_readable_by_the_adapter() -> None:
    event = make_http_event("post", "/v?x=1", [("content-type", "application/json")], b"{}", request_id="r-1")
    parsed = HttpEvent.from_bytes(event)
    assert (parsed.method, parsed.path, parsed.query, parsed.request_id) == ("POST", "/v", {"x": "1"}, "r-1")
    assert parsed.json() == {}


# ------------------------------------------------------------------------------------------ response mapping


def test_response_status_headers_and_body_are_mapped(gateway: Gateway) -> None:
    status, response, data = request(gateway, "GET", "/echo")
    assert status == 200
    assert response.getheader("content-type") == "application/json"
    assert response.getheader("x-fn") == "echo"
    assert json.loads(data)["fn"] == "echo"


def test_base64_response_body_is_decoded_and_list_headers_repeat(gateway: Gateway) -> None:
    status, response, data = request(gateway, "GET", "/binary")
    assert (status, data) == (201, b"\x89PNG\x00\xff")
    assert response.headers.get_all("x-multi") == ["a", "b"]


def test_head_request_gets_no_body(gateway: Gateway) -> None:
    status, response, data = request(gateway, "HEAD", "/echo")
    assert status == 200 and data == b""
    assert int(response.getheader("content-length") or 0) > 0


# ------------------------------------------------------------------------------------------ errors


def test_handler_exception_is_502_and_gateway_keeps_serving(gateway: Gateway) -> None:
    status, _, data = request(gateway, "GET", "/crash")
    assert status == 502
    assert json.loads(data)["error"]["code"] == "FunctionError"
    assert "boom" not in data.decode()
    assert request(gateway, "GET", "/echo")[0] == 200


def test_non_dict_return_is_502(gateway: Gateway) -> None:
    status, _, data = request(gateway, "GET", "/badreturn")
    assert (status, json.loads(data)["error"]["code"]) == (502, "InvalidFunctionResponse")


def test_invalid_status_code_is_502(gateway: Gateway) -> None:
    assert request(gateway, "GET", "/badstatus")[0] == 502


def test_failing_initialize_is_502_then_retried(gateway: Gateway, functions_dir: Path) -> None:
    status, _, data = request(gateway, "GET", "/initfail")
    assert (status, json.loads(data)["error"]["code"]) == (502, "InitializationError")
    (functions_dir / "initfail" / "FAIL").unlink()
    assert request(gateway, "GET", "/initfail")[0] == 200


def test_import_failure_is_502(gateway: Gateway) -> None:
    status, _, data = request(gateway, "GET", "/importfail")
    assert (status, json.loads(data)["error"]["code"]) == (502, "InitializationError")


def test_oversized_body_is_413(functions_dir: Path) -> None:
    with Gateway(functions_dir, [Route("/echo", "echo")], module_prefix="fc_test_gw_small_",
                 max_body_bytes=10) as gw:
        assert request(gw, "POST", "/echo", b"x" * 11)[0] == 413


# ------------------------------------------------------------------------------------------ routing and loading


def test_initialize_runs_once_per_function(gateway: Gateway) -> None:
    for _ in range(3):
        request(gateway, "GET", "/echo")
    assert gateway.function("echo").INIT_CALLS == ["echo"]


def test_longest_prefix_wins(gateway: Gateway) -> None:
    _, _, data = request(gateway, "GET", "/echo/deeper/x")
    assert json.loads(data)["fn"] == "other"


def test_prefix_does_not_match_a_longer_segment(gateway: Gateway) -> None:
    _, _, data = request(gateway, "GET", "/echoes")
    assert data == b"extra GET /echoes"  # falls through to the "/" extra handler


def test_extra_handler_serves_its_path(gateway: Gateway) -> None:
    status, response, data = request(gateway, "GET", "/")
    assert (status, data) == (200, b"extra GET /")
    assert response.getheader("content-type") == "text/plain; charset=utf-8"


def test_unrouted_path_is_404_without_fallback(functions_dir: Path) -> None:
    with Gateway(functions_dir, [Route("/echo", "echo")], module_prefix="fc_test_gw_404_") as gw:
        status, _, data = request(gw, "GET", "/elsewhere")
    assert (status, json.loads(data)["error"]["code"]) == (404, "NotFound")


def test_modules_get_unique_names(gateway: Gateway) -> None:
    assert gateway.function("echo").__name__ == "fc_test_gw_echo"
    assert gateway.function("echo") is not gateway.function("other")


def test_default_routes_send_verifications_and_callback_to_their_functions(functions_dir: Path) -> None:
    for name in ("initializer", "result_fetcher"):
        (functions_dir / name).mkdir()
        (functions_dir / name / "index.py").write_text(ECHO)
    with Gateway(functions_dir, module_prefix="fc_test_gw_default_") as gw:
        assert json.loads(request(gw, "POST", "/verifications", b"{}")[2])["fn"] == "initializer"
        assert json.loads(request(gw, "GET", "/verifications/abc")[2])["fn"] == "initializer"
        assert json.loads(request(gw, "GET", "/callback?x=1")[2])["fn"] == "result_fetcher"


# ------------------------------------------------------------------------------------------ invoke


def test_invoke_passes_bytes_and_returns_the_result(gateway: Gateway) -> None:
    assert gateway.invoke("queue", b'[{"id":"1"}]') == {"got": '[{"id":"1"}]', "region": "cn-hongkong"}


def test_invoke_encodes_dict_events_as_json(gateway: Gateway) -> None:
    assert json.loads(gateway.invoke("queue", {"triggerTime": "t"})["got"]) == {"triggerTime": "t"}


def test_invoke_propagates_handler_exceptions(gateway: Gateway) -> None:
    with pytest.raises(RuntimeError):
        gateway.invoke("crash", b"{}")


def test_invoke_unknown_function_raises_load_error(gateway: Gateway) -> None:
    with pytest.raises(FunctionLoadError):
        gateway.invoke("missing", b"{}")


def test_request_log_omits_the_query_string(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tools.devstack.gateway"):
        request(gateway, "GET", "/echo?callbackToken=tok-secret-123")
    assert "/echo" in caplog.text
    assert "tok-secret-123" not in caplog.text


@pytest.mark.parametrize("glue", ["&", "%26", "%3F", "%3f"])
def test_request_log_omits_parameters_glued_to_the_path(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, glue: str
) -> None:
    """A vendor that glues its parameters to the callback's path with a ``&`` (shared.callback.callback_parameters
    reads them) puts the token in the path (found by review s)."""
    with caplog.at_level(logging.DEBUG, logger="tools.devstack.gateway"):
        request(gateway, "GET", f"/echo/0123abcd{glue}callbackToken=tok-secret-123&passed=Y")
    assert "/echo/0123abcd" in caplog.text
    assert "tok-secret-123" not in caplog.text


# ------------------------------------------------------------------------------------------ bounded serving


def test_connections_that_send_nothing_occupy_at_most_the_bounded_number_of_threads(functions_dir: Path) -> None:
    """A thread per connection let idle (or slow-loris) clients start threads without limit."""
    from tools.devstack.gateway import MAX_REQUEST_THREADS

    routes = [Route("/echo", "echo")]
    with Gateway(functions_dir, routes, module_prefix="fc_test_gw_bound_") as gw:
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(MAX_REQUEST_THREADS + 16)]
        try:
            time.sleep(0.5)  # time enough to start a thread for each, if nothing bounded them
            assert threading.active_count() <= before + MAX_REQUEST_THREADS
        finally:
            for sock in idle:
                sock.close()


def test_an_idle_connection_is_dropped_after_the_request_timeout_so_others_get_served(functions_dir: Path) -> None:
    routes = [Route("/echo", "echo")]
    with Gateway(functions_dir, routes, module_prefix="fc_test_gw_idle_", max_threads=2, request_timeout=0.5) as gw:
        idle = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(2)]  # every thread taken
        try:
            status, _, _ = request(gw, "GET", "/echo/after")  # served once the idle ones time out
            assert status == 200
            for sock in idle:
                sock.settimeout(5)
                assert sock.recv(1) == b""  # closed by the gateway, no answer
        finally:
            for sock in idle:
                sock.close()
