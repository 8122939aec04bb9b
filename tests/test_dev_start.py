"""``./scripts/dev`` refuses to start with one clear line per reason and exit status 1 (2 for bad usage), never a
traceback: a port in use or out of range, a configuration a function's ``initialize`` refuses (run once for every
function at start, as FC does when an instance starts). A function whose ``initialize`` fails later logs one line."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tools.devstack.dev import stop_running_stack
from tools.devstack.gateway import FunctionLoadError, Gateway

ROOT = Path(__file__).resolve().parents[1]


def dev(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``./scripts/dev`` in a shell with none of the functions' variables (those given excepted)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "SANDBOX_", "ALIBABA_"))}
    clean.update({"KYC_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), "KYC_HTTP_PORT": "0",
                  "KYC_SANDBOX_PORT": "0", **env})
    return subprocess.run([sys.executable, "-m", "tools.devstack.dev", *args], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_out_of_range_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    done = dev(tmp_path, "--port", "99999")
    assert done.returncode == 2
    assert "argument --port: 99999 is not a port number (0-65535)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_gateway_port_in_use_is_named_with_where_to_set_another(tmp_path: Path, busy_port: int) -> None:
    done = dev(tmp_path, "--port", str(busy_port))
    assert (done.returncode, done.stderr) == (
        1, f"dev: cannot start: port {busy_port} (gateway) is in use: another ./scripts/dev? set --port / "
        "KYC_HTTP_PORT\n")


def test_a_sandbox_port_in_use_is_named_with_where_to_set_another(tmp_path: Path, busy_port: int) -> None:
    done = dev(tmp_path, KYC_SANDBOX_PORT=str(busy_port))
    assert (done.returncode, done.stderr) == (
        1, f"dev: cannot start: port {busy_port} (sandbox) is in use: another ./scripts/dev? set --sandbox-port / "
        "KYC_SANDBOX_PORT\n")


@pytest.mark.parametrize(("variable", "value"), [
    ("CLOUDAUTH_REGION", "nowhere"),
    ("KYC_JWT_SECRET", "short"),
    ("CLOUDAUTH_PRODUCT_CODE", "FOO"),
    ("KYC_WEBHOOKS", "notjson"),
])
def test_a_configuration_a_function_refuses_stops_the_start_with_one_line_naming_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    done = dev(tmp_path, **{variable: value})
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert lines and all(line.startswith("dev: cannot start: configuration error: ") for line in lines), done.stderr
    assert variable in lines[0] or "CLOUDAUTH_REGION nowhere" in lines[0]
    assert len(lines) == len(set(lines)) == 1
    assert not (tmp_path / "data" / "local-stack.json").exists()


def test_help_names_the_port_options_and_their_variables(tmp_path: Path) -> None:
    done = dev(tmp_path, "--help")
    text = " ".join(done.stdout.split())
    assert done.returncode == 0
    for option, variable in (("--port", "KYC_HTTP_PORT"), ("--sandbox-port", "KYC_SANDBOX_PORT"),
                             ("--doubles-port", "KYC_DOUBLES_PORT")):
        assert option in text and variable in text
    assert "--host HOST address every server listens on" in text


# --- the gateway ------------------------------------------------------------------------------------------------


def test_a_gateway_whose_port_is_taken_raises_the_os_error_alone(busy_port: int) -> None:
    with pytest.raises(OSError) as raised:
        Gateway(ROOT / "functions", port=busy_port)
    assert raised.value.__context__ is None or not isinstance(raised.value.__context__, AttributeError)


CONFIG_FAILS = """
from shared.config import ConfigError

def initialize(context):
    raise ConfigError("KYC_EXAMPLE", "must be set")

def handler(event, context):
    return {"statusCode": 200, "body": ""}
"""


def test_a_function_refusing_its_configuration_logs_one_line_per_attempt_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "refuses").mkdir()
    (tmp_path / "refuses" / "index.py").write_text(CONFIG_FAILS)
    gateway = Gateway(tmp_path, routes=())
    try:
        assert gateway.initialize_all() == {"refuses": "configuration error: KYC_EXAMPLE must be set"}
        assert not caplog.records  # at start, the stack reports it
        with caplog.at_level(logging.ERROR), pytest.raises(FunctionLoadError):
            gateway.invoke("refuses", b"{}")
    finally:
        gateway.stop()
    [record] = caplog.records
    assert record.getMessage() == "function refuses: initialize failed: configuration error: KYC_EXAMPLE must be set"
    assert record.exc_info is None


def test_a_second_stack_on_the_same_data_directory_is_refused_naming_the_first(tmp_path: Path) -> None:
    """Two stacks on one data directory share its rows but not their sandboxes (each sweeper asks its own of the
    other's transactions) and the CLI follows whichever started last (found by a newcomer's first hour)."""
    from tools.localstack import write_stack_file

    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        write_stack_file(data_dir, {}, sandbox_running=True)  # as the first stack wrote it, with its process id:
        stack_file = data_dir / "local-stack.json"
        stack_file.write_text(stack_file.read_text().replace(f'"pid":{os.getpid()}', f'"pid":{first.pid}'))
        done = dev(tmp_path)
    finally:
        first.kill()
        first.wait()
    assert done.returncode == 1
    assert done.stderr == (f"dev: cannot start: another ./scripts/dev (process {first.pid}) uses {data_dir}: stop "
                           "it, or give this one its own KYC_DATA_DIR (and ports: KYC_HTTP_PORT, KYC_SANDBOX_PORT)\n")


# --- ./scripts/dev --stop -----------------------------------------------------------------------------------


def test_stop_with_no_stack_running_says_so_and_succeeds(tmp_path: Path) -> None:
    done = dev(tmp_path, "--stop")
    assert (done.returncode, done.stderr) == (0, f"dev: no ./scripts/dev runs with {tmp_path / 'data'}: nothing to "
                                                 "stop\n")


#: A stack that takes ``sys.argv[2]`` seconds to start: it holds the data directory's lock at once (as
#: ``DevStack.start`` does first), writes its file only then, and runs until SIGTERM ends it.
STARTING_STACK = """
import sys, time
from pathlib import Path
from tools.localstack import acquire_stack_lock, write_stack_file
directory = Path(sys.argv[1])
assert acquire_stack_lock(directory) == "taken"
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
write_stack_file(directory, {}, sandbox_running=False)
time.sleep(60)
"""


@pytest.fixture
def starting_stack(tmp_path: Path) -> Iterator[Callable[[float], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(seconds_to_start: float) -> subprocess.Popen[str]:
        child = subprocess.Popen([sys.executable, "-c", STARTING_STACK, str(tmp_path / "data"), str(seconds_to_start)],
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                 text=True)
        started.append(child)
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        return child

    yield start
    for child in started:
        child.kill()
        child.wait()


def test_stop_while_a_stack_starts_waits_for_it_and_stops_it(
    starting_stack: Callable[[float], subprocess.Popen[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Said "nothing to stop" before (found by review bu): between taking the lock and writing its file, a
    starting stack was invisible, and went on running."""
    child = starting_stack(0.5)

    assert stop_running_stack(tmp_path / "data", wait=20) == 0

    assert child.wait(timeout=10) == -signal.SIGTERM
    assert capsys.readouterr().err == (
        f"dev: a ./scripts/dev is starting with {tmp_path / 'data'}: waiting until it can be stopped\n"
        f"dev: stopped the stack of process {child.pid} ({tmp_path / 'data'})\n")


def test_stop_gives_up_on_a_stack_that_does_not_finish_starting_and_says_so(
    starting_stack: Callable[[float], subprocess.Popen[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    child = starting_stack(60)

    assert stop_running_stack(tmp_path / "data", wait=0.3) == 1

    assert child.poll() is None  # nothing was signalled: there is no process id to signal yet
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"dev: the ./scripts/dev starting with {tmp_path / 'data'} has not finished starting 0.3 s later; stop it "
        "yourself (Ctrl-C where it runs)")


def test_stop_ends_the_stack_of_its_data_directory_and_waits_until_it_has_let_go(tmp_path: Path) -> None:
    """A stack started in the background (found by a newcomer: the README said only "Ctrl-C stops it"): --stop
    returns once the stack has stopped the way Ctrl-C stops it, its settings file removed."""
    import time

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "SANDBOX_", "ALIBABA_"))}
    clean.update({"KYC_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), "KYC_HTTP_PORT": "0",
                  "KYC_SANDBOX_PORT": "0"})
    stack = subprocess.Popen([sys.executable, "-m", "tools.devstack.dev", "--sweep-interval", "0"], cwd=ROOT,
                             env=clean, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        stack_file = tmp_path / "data" / "local-stack.json"
        deadline = time.monotonic() + 60
        while not stack_file.exists() and stack.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stack_file.exists(), "the stack did not start"

        done = dev(tmp_path, "--stop")

        assert (done.returncode, done.stderr) == (0, f"dev: stopped the stack of process {stack.pid} "
                                                     f"({tmp_path / 'data'})\n")
        assert stack.wait(timeout=10) == 0  # it ends right after letting go of the data directory
        assert not stack_file.exists()
        assert stack.stderr is not None and "stopping..." in stack.stderr.read()
    finally:
        if stack.poll() is None:
            stack.kill()
            stack.wait()
