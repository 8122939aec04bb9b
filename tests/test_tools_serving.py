"""What the tools' local servers share (``tools/serving.py``). The stop on SIGTERM of a whole CLI is in
``tests/doubles/test_cli.py``; here the pieces."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tools.serving import LocalHTTPServer, stop_requested


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
