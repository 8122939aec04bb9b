"""The doubles' server base: control API, fault application order (drop before/after, error, delay, drip),
counters."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tools.doubles._server import DoubleServer, Request, Response


class CounterDouble(DoubleServer):
    """A minimal double: ``POST /add`` adds the body's length to a total; ``GET /total`` reads it."""

    service = "counter"
    error_codes = ("Busy", "InternalError", "InvalidArgument")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.total = 0
        self.lock = threading.Lock()

    def operation_of(self, request: Request) -> str | None:
        return {"/add": "Add", "/total": "Total"}.get(request.path)

    def handle(self, request: Request) -> Response:
        if request.path == "/add":
            with self.lock:
                self.total += len(request.body)
            return Response(204)
        if request.path == "/total":
            return Response(200, str(self.total).encode(), {"Content-Type": "text/plain"})
        if request.path == "/boom":
            raise RuntimeError("a bug in the double")
        return self.render_error("NotFound", request)

    def render_error(self, code: str, request: Request, message: str | None = None) -> Response:
        status = {"Busy": 503, "InternalError": 500, "InvalidArgument": 400}.get(code, 404)
        return Response(status, json.dumps({"code": code}).encode(), {"Content-Type": "application/json"})

    def stats_detail(self) -> dict[str, Any]:
        return {"total": self.total}

    def reset_state(self) -> None:
        self.total = 0


@pytest.fixture
def double() -> Iterator[CounterDouble]:
    with CounterDouble() as server:
        yield server


def _call(double: DoubleServer, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _control(double: DoubleServer, method: str, route: str, obj: Any = None) -> tuple[int, Any]:
    status, data = _call(double, method, f"/_double/{route}", None if obj is None else json.dumps(obj).encode())
    return status, json.loads(data)


def test_serves_on_loopback_on_a_free_port(double: CounterDouble) -> None:
    assert double.base_url == f"http://127.0.0.1:{double.port}" == double.endpoint
    assert double.port > 0


def test_the_control_index_lists_the_endpoints(double: CounterDouble) -> None:
    status, body = _control(double, "GET", "")
    assert status == 200
    assert body["service"] == "counter"
    assert "POST /_double/faults" in body["endpoints"] and "GET /_double/stats" in body["endpoints"]


def test_an_injected_error_is_rendered_by_the_double_without_processing(double: CounterDouble) -> None:
    assert _control(double, "POST", "faults", {"operations": {"Add": {"sequence": ["Busy"]}}})[0] == 200
    assert _call(double, "POST", "/add", b"abc") == (503, b'{"code": "Busy"}')
    assert double.total == 0
    assert _call(double, "POST", "/add", b"abc")[0] == 204
    assert double.total == 3


def test_a_foreign_answer_is_a_gateway_page_with_its_status_without_processing(double: CounterDouble) -> None:
    double.set_faults({"operations": {"Add": {"sequence": ["foreign:502"]}}})
    status, body = _call(double, "POST", "/add", b"abc")
    assert status == 502
    assert body.startswith(b"<html>") and b'"code"' not in body
    assert double.total == 0
    assert double.stats()["faults"] == {"foreign:502": 1}


def test_a_plan_naming_an_error_the_double_lacks_is_refused(double: CounterDouble) -> None:
    status, body = _control(double, "POST", "faults", {"operations": {"Add": {"sequence": ["Teapot"]}}})
    assert status == 400
    assert "unknown error code" in body["error"]


def test_drop_before_closes_without_processing(double: CounterDouble) -> None:
    double.set_faults({"operations": {"Add": {"sequence": ["drop-before"]}}})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _call(double, "POST", "/add", b"abc")
    assert double.total == 0


def test_drop_after_processes_then_closes(double: CounterDouble) -> None:
    double.set_faults({"operations": {"Add": {"sequence": ["drop-after"]}}})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _call(double, "POST", "/add", b"abc")
    assert double.total == 3


def test_a_delay_answers_late_and_is_counted(double: CounterDouble) -> None:
    double.set_faults({"operations": {"Total": {"sequence": ["delay:0.2"]}}})
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=0.05)
    conn.request("GET", "/total")
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    assert double.stats()["faults"] == {"delay": 1}


def _raw_answer(double: DoubleServer, *, keep: int | None = None) -> list[bytes]:
    """``GET /total`` over a raw socket: what each ``recv`` got, until the double closes (or ``keep`` bytes)."""
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", double.port), timeout=5) as sock:
        sock.sendall(b"GET /total HTTP/1.1\r\nHost: x\r\n\r\n")
        while keep is None or sum(map(len, chunks)) < keep:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return chunks


def test_a_drip_sends_the_whole_answer_one_byte_at_a_time_then_closes(double: CounterDouble) -> None:
    double.set_faults({"operations": {"Total": {"sequence": ["drip:0.003"]}}})
    chunks = _raw_answer(double)
    answer = b"".join(chunks)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n0")  # status line to body: dripped
    assert len(chunks) > len(answer) // 2  # byte by byte (a read may find two that arrived together)
    assert double.stats()["faults"] == {"drip": 1}


def test_a_drip_ends_when_the_client_hangs_up_and_is_counted_as_cut_off(double: CounterDouble) -> None:
    double.set_faults({"operations": {"Total": {"sequence": ["drip:0.01"]}}})
    assert len(b"".join(_raw_answer(double, keep=5))) == 5
    waited = 0.0
    while double.stats()["faults"].get("drip-cut-off") != 1 and waited < 2:  # noticed at its next byte
        time.sleep(0.02)
        waited += 0.02
    assert double.stats()["faults"] == {"drip": 1, "drip-cut-off": 1}
    assert _call(double, "GET", "/total") == (200, b"0")  # the next request is answered normally


def test_stats_count_requests_per_operation_and_the_doubles_own_counters(double: CounterDouble) -> None:
    _call(double, "POST", "/add", b"ab")
    _call(double, "GET", "/total")
    status, stats = _control(double, "GET", "stats")
    assert status == 200
    assert stats == {"requests": {"Add": 1, "Total": 1}, "faults": {}, "total": 2}


def test_reset_clears_state_counters_and_the_plan(double: CounterDouble) -> None:
    double.set_faults({"operations": {"*": {"errorRates": {"Busy": 1.0}}}})
    _call(double, "POST", "/add", b"ab")
    double.total = 5
    assert _control(double, "POST", "reset") == (200, {"ok": True})
    assert double.stats() == {"requests": {}, "faults": {}, "total": 0}
    assert _control(double, "GET", "faults") == (200, {"faults": {}})


def test_a_bug_in_the_double_answers_its_internal_error(double: CounterDouble) -> None:
    assert _call(double, "GET", "/boom") == (500, b'{"code": "InternalError"}')


def test_an_unknown_control_route_is_a_404_naming_the_index(double: CounterDouble) -> None:
    status, body = _control(double, "GET", "nothing")
    assert status == 404
    assert body["endpoints"] == "GET /_double/"


def test_a_malformed_control_body_is_a_400(double: CounterDouble) -> None:
    assert _call(double, "POST", "/_double/faults", b"{nope")[0] == 400


def test_a_chunked_body_is_read(double: CounterDouble) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    conn.request("POST", "/add", body=iter([b"abc", b"de"]), encode_chunked=True)
    assert conn.getresponse().status == 204
    conn.close()
    assert double.total == 5


def test_a_bad_content_length_is_the_doubles_bad_request(double: CounterDouble) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    conn.putrequest("POST", "/add")
    conn.putheader("Content-Length", "many")
    conn.endheaders()
    response = conn.getresponse()
    assert (response.status, response.read()) == (400, b'{"code": "InvalidArgument"}')
    conn.close()
