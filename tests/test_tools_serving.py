"""What the tools' local servers share (``tools/serving.py``). The stop on SIGTERM of a whole CLI is in
``tests/doubles/test_cli.py``; here the pieces."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tools.serving import LocalHTTPServer, local_url, serve_in_background, stop_requested, stop_serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    httpd = LocalHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    try:
        yield httpd
    finally:
        httpd.server_close()


@pytest.mark.parametrize("gone", [BrokenPipeError, ConnectionResetError, TimeoutError])
def test_a_client_that_hung_up_is_not_reported(server: LocalHTTPServer, gone: type[Exception],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise gone
    except gone:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""


def test_any_other_error_in_a_request_is_reported(server: LocalHTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise ValueError("a bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a bug" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_ask_to_stop(signum: int) -> None:
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop = stop_requested()
        assert not stop.is_set()
        os.kill(os.getpid(), signum)
        assert stop.wait(5)
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])


@pytest.mark.parametrize(("host", "url"), [("127.0.0.1", "http://127.0.0.1:81"), ("0.0.0.0", "http://127.0.0.1:81"),
                                           ("", "http://127.0.0.1:81"), ("::", "http://127.0.0.1:81"),
                                           ("::1", "http://[::1]:81"), ("example.test", "http://example.test:81")])
def test_the_local_url_reaches_a_wildcard_bind_on_loopback_and_brackets_ipv6(host: str, url: str) -> None:
    assert local_url(host, 81) == url


def test_a_server_served_in_the_background_answers_until_stopped(server: LocalHTTPServer) -> None:
    thread = serve_in_background(server, "test-serving")
    port = server.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    stop_serving(server, thread)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_server_that_never_served_is_only_closed(server: LocalHTTPServer) -> None:
    stop_serving(server, None)  # shutdown() would wait for a serve_forever that never ran
    assert server.socket.fileno() == -1


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell without job control starts a background job


@pytest.mark.parametrize(("module", "ready"), [
    (["tools.ops.kyc", "console", "--port", "0"], "kyc console at"),
    (["tools.devstack.gateway", "--port", "0"], "FC gateway on"),
])
def test_a_server_started_with_sigint_ignored_still_stops_on_sigint(
    tmp_path: Path, module: list[str], ready: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_"))}
    env.update(PYTHONPATH=str(ROOT), KYC_DATA_DIR=str(tmp_path))
    from shared.storage import StorageSettings, open_transaction_store

    open_transaction_store(StorageSettings(backend="local", data_dir=tmp_path)).close()  # the console reads data
    process = subprocess.Popen([sys.executable, "-m", *module], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ignore_sigint)  # noqa: PLW1509 - only sets a signal disposition
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the server announces itself once it serves
            if ready in line:
                break
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
