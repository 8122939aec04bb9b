"""Edges of the operator tooling (``./scripts/kyc``, tools/ops) found by review be: an answer that is not HTTP or is
cut, a read deadline passed after the request went out, files that are not UTF-8, a drift check without its
backend, a redrive whose send fails midway, the console asked by another site's page. Each test failed on the code
before its fix."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from shared import jsonutil
from shared.storage import StorageError, StorageSettings, Stores, open_stores
from shared.storage.sqlite_queue import SqliteQueue
from tools.ops import console, kyc
from tools.ops.dlq import redrive

KEYS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-review", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "review-secret"}


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(args, env=env, stdout=out, stderr=err, stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


def _raw_server(answer: bytes, *, then_sleep: float = 0.0) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that reads a request, writes ``answer`` and (optionally) stalls before closing."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if answer:
                    conn.sendall(answer)
                time.sleep(then_sleep)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        srv.close()


@pytest.fixture
def event(tmp_path: Path) -> Path:
    path = tmp_path / "timer.json"
    path.write_text("{}")
    return path


# --- invoke -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    b"SSH-2.0-OpenSSH_9.6\r\n",  # KYC_FC_ENDPOINT / --endpoint on the wrong port: not HTTP at all
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\"",  # the answer cut off mid-body
])
def test_invoke_of_an_endpoint_answering_garbage_fails_with_one_line_not_a_traceback(
    event: Path, answer: bytes
) -> None:
    for port in _raw_server(answer):
        code, _, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", f"http://127.0.0.1:{port}"],
                           env=dict(KEYS))  # raises http.client.BadStatusLine / IncompleteRead today
        assert code == 1 and err.startswith("error: ")


def test_invoke_whose_function_outlives_the_read_deadline_does_not_say_the_endpoint_was_unreachable(
    event: Path,
) -> None:
    """The request went out (the server read it); only the answer was late. "cannot reach" tells the operator that
    nothing ran, and invites a second invocation (for the initializer: a second billed start)."""
    for port in _raw_server(b"", then_sleep=3.0):
        code, _, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", f"http://127.0.0.1:{port}"],
                           env={**KEYS, "KYC_FC_TIMEOUT": "0.5"})
        assert code == 1
        assert "cannot reach" not in err and "may have run" in err


# --- argument handling: never a traceback --------------------------------------------------------------------


def test_initialize_with_a_meta_info_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    meta = tmp_path / "meta.bin"
    meta.write_bytes(b"\xff\xfe\x00 not text")
    code, _, err = run(["initialize", "--user", "u1", "--doc-type", "01000000", "--meta-info", f"@{meta}"],
                       env={"KYC_DATA_DIR": str(tmp_path / "data")})  # UnicodeDecodeError escapes main() today
    assert code == 2 and "--meta-info" in err


def test_doctor_with_an_env_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_bytes(b"KYC_BACKEND=aliyun\n\xff\xfe\n")
    code, _, err = run(["doctor", "--env-file", str(env_file), "--timeout", "1"],
                       env={"KYC_DATA_DIR": str(tmp_path / "data")})  # UnicodeDecodeError escapes main() today
    assert code == 2 and "--env-file" in err


# --- setup-tables ---------------------------------------------------------------------------------------------


def test_setup_tables_check_without_the_aliyun_backend_is_not_a_passing_check(tmp_path: Path) -> None:
    """A CI drift check whose job forgot ``KYC_BACKEND=aliyun`` (the Tablestore variables are there) printed
    ``"ok": true`` and exited 0 — and created an empty local database in the data directory, which every other
    command then reads as an empty system instead of ``NoData``."""
    data = tmp_path / "data"
    env = {"KYC_DATA_DIR": str(data), "KYC_TABLESTORE_ENDPOINT": "https://kyc.cn-hongkong.ots.aliyuncs.com",
           "KYC_TABLESTORE_INSTANCE": "kyc", **KEYS}
    code, out, _ = run(["setup-tables", "--check"], env=env)
    assert code != 0 and '"ok":true' not in out.replace(" ", "")
    assert not data.exists() or not any(data.iterdir())  # a check creates nothing


# --- dlq redrive -------------------------------------------------------------------------------------------


def test_a_redrive_whose_send_fails_midway_reports_what_went_back_and_leaves_the_rest_visible(
    tmp_path: Path,
) -> None:
    """Letter 1 went back and was deleted, letter 2's send failed (MNS down for a moment). Today the run raises: the
    operator sees one error line and no report of letter 1, and letters 2 and 3 (received in the same batch, never
    held) stay hidden for the whole hold, so an immediate `dlq list` / `dlq redrive --id` finds nothing."""
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "kyc-deadletter")
    ids = [queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": f"m{n}"})) for n in range(3)]
    sends: list[bytes] = []

    def send(name: str, body: bytes) -> str:
        sends.append(body)
        if len(sends) == 2:
            raise StorageError("service unavailable", transient=True, code="ServiceUnavailable")
        return f"new{len(sends)}"

    report = redrive(queue, send)
    assert [r["messageId"] for r in report.redriven] == [ids[0]]
    assert not report.complete
    visible = {m.message_id for m in queue.receive(max_messages=16, visibility_timeout=1)}
    assert visible == {ids[1], ids[2]}


# --- console -----------------------------------------------------------------------------------------------


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    return open_stores(StorageSettings(backend="local", data_dir=tmp_path / "data"))


def test_the_console_does_not_run_its_period_queries_for_another_site_s_page(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any page the operator visits can embed ``<img src="http://127.0.0.1:9300/?period=30d">`` a hundred times: the
    Host is the console's own, so each load runs count_created over 30 days (every index row of the period, no cap)
    and up to 50 000 row reads with the operator's credentials, on a thread per connection. The browser says where
    the request comes from (Sec-Fetch-Site); only the console's own pages, or a typed URL, need the figures."""
    reads: list[str] = []
    monkeypatch.setattr(stores.transactions, "count_created", lambda **kw: reads.append("count") or {})
    app = console.ConsoleApp(stores, lambda: stores.queue("deadletter"), port=9300)  # type: ignore[arg-type]
    answer = app.handle("GET", "/?period=30d", {"host": "127.0.0.1:9300", "sec-fetch-site": "cross-site",
                                                 "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"}, b"")
    assert answer.status == 403 and reads == []


# --- invoke: which key, which headers, which limits (found by mutating tools/ops/invoke.py) ----------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-fc-request-id", "req-1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_invoke_with_an_sts_key_names_its_key_id_in_a_header(event: Path, recorder: str) -> None:
    env = {**KEYS, "ALIBABA_CLOUD_SECURITY_TOKEN": "sts-token-review"}
    code, _, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", recorder], env)
    assert code == 0, err
    ((_, headers),) = _Recorder.seen
    assert headers["x-acs-accesskey-id"] == KEYS["ALIBABA_CLOUD_ACCESS_KEY_ID"]


def test_invoke_asks_for_the_log_tail_of_a_synchronous_run(event: Path, recorder: str) -> None:
    assert run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", recorder], dict(KEYS))[0] == 0
    ((_, headers),) = _Recorder.seen
    assert (headers["x-fc-invocation-type"], headers["x-fc-log-type"]) == ("Sync", "Tail")


def test_invoke_async_asks_for_no_log_tail(event: Path, recorder: str) -> None:
    assert run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", recorder, "--async"], dict(KEYS))[0] == 0
    ((_, headers),) = _Recorder.seen
    assert headers["x-fc-invocation-type"] == "Async" and "x-fc-log-type" not in headers


def test_invoke_sends_the_qualifier_it_is_given(event: Path, recorder: str) -> None:
    code, _, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", recorder,
                        "--qualifier", "LATEST"], dict(KEYS))
    assert code == 0, err
    ((path, _),) = _Recorder.seen
    assert path.endswith("/invocations?qualifier=LATEST")


def test_invoke_on_localhost_without_a_key_uses_the_local_stack_s(event: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", f"http://localhost:{port}"], {})
    assert code == 1 and "error: TransportError: cannot reach" in err


def test_invoke_elsewhere_without_a_key_is_a_config_error_before_anything_is_sent(event: Path) -> None:
    code, out, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", "http://192.0.2.1:9"], {})
    assert (code, out) == (2, "") and "ALIBABA_CLOUD_ACCESS_KEY_ID" in err


def test_invoke_refuses_a_read_deadline_of_zero(event: Path) -> None:
    code, _, err = run(["invoke", "sweeper", "--event-file", str(event)], {**KEYS, "KYC_FC_TIMEOUT": "0"})
    assert code == 2 and "KYC_FC_TIMEOUT must be a positive number of seconds" in err


def test_invoke_refuses_an_event_larger_than_fc_accepts(tmp_path: Path) -> None:
    from tools.ops.invoke import MAX_EVENT_BYTES

    big = tmp_path / "big.json"
    with big.open("wb") as file:
        file.truncate(MAX_EVENT_BYTES + 1)
    code, _, err = run(["invoke", "sweeper", "--event-file", str(big)], dict(KEYS))
    assert code == 2 and "larger than FC accepts" in err


def test_invoke_answered_with_a_redirect_fails(event: Path) -> None:
    for port in _raw_server(b"HTTP/1.1 300 Multiple Choices\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"):
        code, _, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", f"http://127.0.0.1:{port}"],
                           dict(KEYS))
        assert code == 1 and "(HTTP 300)" in err


def test_invoke_through_fc2_whose_function_outlives_the_read_deadline_says_it_may_have_run(event: Path) -> None:
    for port in _raw_server(b"", then_sleep=3.0):
        code, _, err = run(["invoke", "sweeper", "--event-file", str(event), "--endpoint", f"http://127.0.0.1:{port}",
                            "--service", "s"], {**KEYS, "KYC_FC_TIMEOUT": "0.5"})
        assert code == 1 and "cannot reach" not in err and "may have run" in err


def test_invoke_waits_for_a_function_longer_than_a_connection_may_take() -> None:
    from shared.signing import Credentials
    from tools.ops.invoke import invoke_function

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def answer_late() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                time.sleep(0.6)  # the function runs longer than the connect deadline
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

        threading.Thread(target=answer_late, daemon=True).start()
        answer = invoke_function(f"http://127.0.0.1:{server.getsockname()[1]}", Credentials("ak", "sk"), "kyc-sweeper",
                                 b"{}", connect_timeout=0.2, read_timeout=5.0)
    assert (answer.status, answer.body) == (200, b"{}")


def test_invoke_s_endpoint_option_wins_over_kyc_fc_endpoint() -> None:
    import argparse

    from tools.ops import invoke

    parser = argparse.ArgumentParser()
    invoke.configure(parser)
    args = parser.parse_args(["f", "--event-file", "e", "--endpoint", "http://127.0.0.1:1"])
    assert invoke.endpoint_for(args, {"KYC_FC_ENDPOINT": "http://127.0.0.1:2"}) == "http://127.0.0.1:1"
