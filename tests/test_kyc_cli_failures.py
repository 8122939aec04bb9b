"""How ``./scripts/kyc`` fails where an operator's input or machine is at fault (an audit of the CLI, review bu):
one line naming the cause and an honest exit status, never a traceback (it may quote a key or a person's data),
never a wait past the deadline, never success when the answer did not come from Function Compute."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.cloudauth import CloudAuthSettings
from shared.config import ConfigError, env_int
from shared.storage import StorageSettings
from tests.conftest import ROOT
from tests.test_fc_invoke import EVENTS
from tools.credentials import key_from_env
from tools.deployment import DeploymentError
from tools.ops import kyc
from tools.ops.common import caller_path

KEY = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-operator", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "operator-secret"}
TIMER = str(EVENTS / "timer.json")


def run(args: list[str], env: dict[str, str] | None = None, stdout: Any = None) -> tuple[int, str, str]:
    out, err = stdout or io.StringIO(), io.StringIO()
    code = kyc.main(args, env={} if env is None else env, stdout=out, stderr=err, stdin=io.StringIO())
    return code, out.getvalue() if isinstance(out, io.StringIO) else "", err.getvalue()


@pytest.fixture
def sweep_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """``kyc sweep`` replaced by what the test puts in the list: a value it prints, or an exception it raises."""
    behaviour: list[Any] = []

    def fake(args: Any, ctx: kyc.Context) -> int:
        if isinstance(behaviour[0], BaseException):
            raise behaviour[0]
        ctx.print_json(behaviour[0])
        return 0

    monkeypatch.setitem(kyc.COMMANDS, "sweep", replace(kyc.COMMANDS["sweep"], run=fake))
    yield behaviour


# --- arguments and credentials --------------------------------------------------------------------------


def test_an_argument_that_is_not_utf8_is_a_usage_error_before_any_command_runs(sweep_runs: list[Any]) -> None:
    sweep_runs.append(AssertionError("the command ran"))
    code, out, err = run(["sweep", "--bogus\udcff"])
    assert (code, out, err) == (2, "", "error: InvalidUsage: argument 2 is not valid UTF-8\n")


@pytest.mark.parametrize("variable", ["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                                      "ALIBABA_CLOUD_SECURITY_TOKEN"])
@pytest.mark.parametrize("value", ["CAIS-token\rinside", "secret\nX-Injected: 1", "s\u00e9cret", "two words"])
def test_a_credential_no_header_can_carry_is_refused_naming_the_variable_not_the_value(
    variable: str, value: str
) -> None:
    """A trailing line end is stripped as for any variable; one inside (an env file with Windows line ends, a
    paste) failed in http.client with the header, key or token quoted in the traceback."""
    env = {**KEY, variable: value}
    for read in (key_from_env, CloudAuthSettings.from_env,
                 lambda e: StorageSettings.from_env({**e, "KYC_BACKEND": "aliyun"})):
        with pytest.raises(ConfigError) as caught:
            read(env)
        assert caught.value.variable == variable and value not in str(caught.value)


def test_a_trailing_line_end_of_a_credential_is_stripped_as_for_any_variable() -> None:
    key = key_from_env({**KEY, "ALIBABA_CLOUD_SECURITY_TOKEN": "CAIS-token\r\n"})
    assert key is not None and key.security_token == "CAIS-token"


def test_kyc_invoke_with_a_token_holding_a_line_break_prints_no_token() -> None:
    token = "CAIS1234567890SecretStsToken"
    code, _, err = run(["invoke", "sweeper", "--event-file", TIMER, "--endpoint", "http://127.0.0.1:9"],
                       {**KEY, "ALIBABA_CLOUD_SECURITY_TOKEN": token[:10] + "\r" + token[10:]})
    assert code == 2 and token[10:] not in err and "Traceback" not in err
    assert "ALIBABA_CLOUD_SECURITY_TOKEN must be printable ASCII without spaces" in err


# --- unexpected failures --------------------------------------------------------------------------------


def test_an_unexpected_exception_is_one_line_without_its_message_or_traceback(sweep_runs: list[Any]) -> None:
    sweep_runs.append(RuntimeError("the secret LTAI-operator and a passport number"))
    code, _, err = run(["sweep"])
    assert code == 1
    assert err.startswith("error: Unexpected: RuntimeError in sweep: a defect of this tool; run again with "
                          "KYC_DEBUG=1")
    assert "LTAI-operator" not in err and "Traceback" not in err


def test_kyc_debug_shows_the_traceback_of_an_unexpected_exception(sweep_runs: list[Any]) -> None:
    sweep_runs.append(RuntimeError("where it broke"))
    code, _, err = run(["sweep"], {"KYC_DEBUG": "1"})
    assert code == 1 and "Traceback" in err and "RuntimeError: where it broke" in err


def test_a_malformed_s_yaml_is_a_usage_error_naming_it(sweep_runs: list[Any]) -> None:
    sweep_runs.append(DeploymentError("s.yaml vars.region refers to itself"))
    assert run(["sweep"])[::2] == (2, "error: InvalidDeployment: s.yaml vars.region refers to itself\n")


# --- the output -----------------------------------------------------------------------------------------


class _FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


class _Closed(io.StringIO):
    def write(self, text: str) -> int:
        raise ValueError("I/O operation on closed file.")


@pytest.mark.parametrize(("stream", "reason"), [(_FullDisk, "ENOSPC"), (_Closed, "closed")])
def test_an_answer_that_cannot_be_written_is_an_output_failure_not_a_connection_failure(
    sweep_runs: list[Any], stream: type[io.StringIO], reason: str
) -> None:
    sweep_runs.append({"checked": 0})
    code, _, err = run(["sweep"], stdout=stream())
    assert (code, err) == (1, f"error: OutputFailed: the answer could not be written to the output ({reason})\n")


def test_a_reader_that_went_away_still_ends_quietly_with_141(sweep_runs: list[Any]) -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    sweep_runs.append({"checked": 0})
    assert run(["sweep"], stdout=Gone())[::2] == (141, "")


# --- invoke ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["http://[::1", "garbage", "http://127.0.0.1:99999", "ftp://127.0.0.1/"])
def test_invoke_with_an_endpoint_that_is_no_url_is_a_usage_error_with_or_without_a_key(endpoint: str) -> None:
    for env in ({}, KEY):
        code, _, err = run(["invoke", "sweeper", "--event-file", TIMER, "--endpoint", endpoint], env)
        assert code == 2 and err.startswith("error: InvalidParameter: the FC endpoint must be an http(s) URL"), err


def test_invoke_through_fc2_with_a_region_that_makes_no_url_is_a_usage_error_not_a_lost_answer() -> None:
    code, _, err = run(["invoke", "sweeper", "--service", "s", "--event-file", TIMER, "--account-id", "123",
                        "--region", "bad region/x"], KEY)
    assert code == 2 and "AnswerLost" not in err and "InvalidParameter" in err


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class _Drip(BaseHTTPRequestHandler):
    """Answers headers at once, then one byte of its 1000 every 0.2 s for 12 s (no read waits long; the answer is
    never whole, and the handler ends with the test's server)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("x-fc-request-id", "drip")
        self.send_header("content-length", "1000")
        self.end_headers()
        try:
            for _ in range(60):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:  # the client gave up and the socket broke
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _NotFc(BaseHTTPRequestHandler):
    """A proxy's login page: 200, HTML, no x-fc-request-id."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b"<html>please sign in</html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SignatureMismatch(BaseHTTPRequestHandler):
    """An API refusing a signature and quoting the request it refused, its headers (the security token) included,
    as signature errors do ("StringToSign" or the canonical request in the message)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        quoted = "\n".join(f"{name.lower()}:{value}" for name, value in self.headers.items())
        body = jsonutil.dumps({"Code": "SignatureDoesNotMatch", "RequestId": "r-1",
                               "Message": f"The request signature does not conform. CanonicalRequest: {quoted}"})
        self.send_response(403)
        self.send_header("x-fc-request-id", "r-1")
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def signature_mismatch() -> Iterator[str]:
    yield from _serve(_SignatureMismatch)


@pytest.fixture
def drip() -> Iterator[str]:
    yield from _serve(_Drip)


@pytest.fixture
def not_fc() -> Iterator[str]:
    yield from _serve(_NotFc)


def test_invoke_gives_up_on_an_answer_that_never_ends_at_its_deadline(drip: str) -> None:
    """KYC_FC_TIMEOUT bounds the whole answer, not each read (the drip kept it for ever)."""
    started = time.monotonic()
    code, out, err = run(["invoke", "sweeper", "--event-file", TIMER, "--endpoint", drip],
                         {**KEY, "KYC_FC_TIMEOUT": "1"})
    elapsed = time.monotonic() - started
    assert code == 1 and out == ""
    assert "error: AnswerLost:" in err and "(no whole answer within 1 s)" in err and "may have run" in err
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_invoke_through_fc2_gives_up_on_an_answer_that_never_ends_at_its_deadline(drip: str) -> None:
    """The fc2 SDK's requests has per-read timeouts too: the whole exchange is bounded around it."""
    started = time.monotonic()
    code, _, err = run(["invoke", "sweeper", "--service", "s", "--event-file", TIMER, "--endpoint", drip],
                       {**KEY, "KYC_FC_TIMEOUT": "1"})
    elapsed = time.monotonic() - started
    assert code == 1 and "error: AnswerLost:" in err and "(no whole answer within 1 s)" in err
    assert elapsed < 11, f"took {elapsed:.1f} s"  # connect deadline (5 s) + 1 s; the drip lasts 12 s


def test_invoke_refuses_a_success_that_does_not_come_from_function_compute(not_fc: str) -> None:
    code, out, err = run(["invoke", "sweeper", "--event-file", TIMER, "--endpoint", not_fc], KEY)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: NotFunctionCompute: {not_fc} answered HTTP 200 without x-fc-request-id")


@pytest.mark.parametrize("fc2", [False, True], ids=["fc3", "fc2"])
def test_invoke_prints_an_api_error_that_quotes_the_security_token_without_it(
    signature_mismatch: str, fc2: bool
) -> None:
    """The error's body went to stdout as it came (review bu): a signature error quoting the request printed the STS
    token; the ``error:`` line was scrubbed already."""
    token = "CAIS-operator-token-0123456789"
    service = ["--service", "kyc"] if fc2 else []
    code, out, err = run(["invoke", "sweeper", *service, "--event-file", TIMER, "--endpoint", signature_mismatch],
                         {**KEY, "ALIBABA_CLOUD_SECURITY_TOKEN": token})
    assert code == 1 and "SignatureDoesNotMatch" in out + err
    assert "[REDACTED]" in out and token not in out + err


# --- paths the operator types -----------------------------------------------------------------------------


def test_a_relative_path_is_taken_from_where_kyc_was_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KYC_CALLER_DIR", str(tmp_path))
    assert caller_path("event.json") == tmp_path / "event.json"
    assert caller_path("/etc/event.json") == Path("/etc/event.json")
    monkeypatch.delenv("KYC_CALLER_DIR")
    assert caller_path("event.json") == Path("event.json")  # python -m tools.ops.kyc: the working directory


def test_scripts_kyc_reads_an_event_file_named_relative_to_the_operators_directory(tmp_path: Path) -> None:
    """scripts/_venv.sh moves to the project's root: a relative --event-file was looked for there (audit bu), and
    --images-dir's identity images would have been written there."""
    (tmp_path / "event.json").write_text("{}", encoding="utf-8")
    done = subprocess.run([str(ROOT / "scripts" / "kyc"), "invoke", "sweeper", "--event-file", "event.json",
                           "--endpoint", "http://[::1"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False, env={k: v for k, v in os.environ.items() if not k.startswith("KYC_")})
    assert done.returncode == 2, done.stderr
    assert "the FC endpoint must be an http(s) URL" in done.stderr  # the event was read: the endpoint came next


# --- small refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bounds", "says"), [((0, None), "must be at least 0"), ((None, 10), "must be at most 10"),
                                              ((1, 10), "must be between 1 and 10")])
def test_a_number_out_of_range_names_only_the_bounds_it_has(bounds: tuple[int | None, int | None], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        env_int({"N": "-99" if bounds[0] is not None else "99"}, "N", 1, minimum=bounds[0], maximum=bounds[1])


@pytest.mark.parametrize("since", ["", "\u0663h", "\u0663\u0660d"])
def test_list_refuses_an_empty_or_non_ascii_since(since: str, tmp_path: Path) -> None:
    """An empty --since was ignored (every row listed); Arabic-Indic digits were read as 3h."""
    code, out, err = run(["list", "--since", since], {"KYC_DATA_DIR": str(tmp_path)})
    assert (code, out) == (2, "") and "--since must be" in err


def test_erase_refuses_a_pepper_the_initializer_would_refuse(tmp_path: Path) -> None:
    """No row was ever hashed with a pepper under 16 characters: erase would find nothing and say so."""
    code, _, err = run(["erase", "--user", "alice", "--yes"],
                       {"KYC_USER_ID_PEPPER": "short", "KYC_DATA_DIR": str(tmp_path)})
    assert code == 2 and "KYC_USER_ID_PEPPER must be at least 16 characters" in err


def test_an_error_message_from_elsewhere_never_prints_a_registered_secret(sweep_runs: list[Any]) -> None:
    """A vendor's or a server's message is printed as it came: scrubbed as log lines are (audit bu)."""
    from shared.cloudauth import CloudAuthError
    from shared.redaction import register_secret

    register_secret("the-vendor-echoed-this-secret")
    sweep_runs.append(CloudAuthError("bad signature for the-vendor-echoed-this-secret", status=400, code="Bad"))
    code, _, err = run(["sweep"])
    assert code == 1 and err.startswith("error: Bad: bad signature for ") and "echoed-this" not in err



# --- review bu's second pass --------------------------------------------------------------------------------


def test_a_bare_from_s_yaml_still_reads_the_project_s_s_yaml_wherever_kyc_ran(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tools.deployment import S_YAML

    monkeypatch.setenv("KYC_CALLER_DIR", str(tmp_path))
    parser = kyc.build_parser()
    assert parser.parse_args(["doctor", "--from-s-yaml"]).from_s_yaml == S_YAML
    assert parser.parse_args(["doctor", "--from-s-yaml", "mine.yaml"]).from_s_yaml == tmp_path / "mine.yaml"


def test_an_fc2_endpoint_without_a_scheme_is_https_as_the_fc2_sdk_reads_it() -> None:
    import argparse

    from tools.ops import invoke

    parser = argparse.ArgumentParser()
    invoke.configure(parser)
    args = parser.parse_args(["f", "--event-file", "e", "--service", "s",
                              "--endpoint", "123.cn-hongkong.fc.aliyuncs.com"])
    assert invoke.endpoint_for(args, {}) == "https://123.cn-hongkong.fc.aliyuncs.com"


def test_invoke_through_fc2_refuses_a_success_that_does_not_come_from_function_compute(not_fc: str) -> None:
    code, out, err = run(["invoke", "sweeper", "--service", "s", "--event-file", TIMER, "--endpoint", not_fc], KEY)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: NotFunctionCompute: {not_fc} answered a success without x-fc-request-id")


def test_an_answer_the_output_s_encoding_cannot_hold_says_so(sweep_runs: list[Any]) -> None:
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    sweep_runs.append({"name": "Zo\u00eb"})
    code, _, err = run(["sweep"], stdout=ascii_out)
    assert (code, err) == (1, "error: OutputFailed: the output's encoding (ascii) cannot hold the answer: set "
                              "PYTHONIOENCODING=utf-8\n")


def test_the_key_the_tools_read_is_scrubbed_from_what_they_print() -> None:
    from shared.redaction import scrub_text

    key_from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-x", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "tools-secret-0123456",
                  "ALIBABA_CLOUD_SECURITY_TOKEN": "CAIS-tools-token-0123"})
    assert "tools-secret-0123456" not in scrub_text("sig for tools-secret-0123456")
    assert "CAIS-tools-token-0123" not in scrub_text("token CAIS-tools-token-0123")
