"""The processes and loopback servers a warm benchmark needs: sandbox (own process), callback capture, receivers."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.bench.proc import PYTHON, ROOT
from tools.credentials import SANDBOX_KEY

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - a benchmark fixture


class Recorder(ThreadingHTTPServer):
    """Answers every request 200 and records GET targets / counts POSTs (callback capture, webhook receiver)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.posts = 0
        self.cond = threading.Condition()

        recorder = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with recorder.cond:
                    recorder.targets.append(self.path)
                    recorder.cond.notify_all()
                self._ok()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with recorder.cond:
                    recorder.posts += 1
                    recorder.cond.notify_all()
                self._ok()

            def _ok(self) -> None:
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_targets(self, count: int, timeout: float = 30.0) -> list[str]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.targets) >= count, timeout):
                raise RuntimeError(f"only {len(self.targets)} of {count} callbacks arrived")
            return list(self.targets)


@contextmanager
def sandbox(image_bytes: int) -> Iterator[str]:
    """A sandbox in its own process; yields its base URL."""
    env = {"SANDBOX_QPS": "100000", "SANDBOX_ALLOW_HTTP_LOOPBACK_CALLBACKS": "Y", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [PYTHON, "-m", "tools.sandbox", "--port", "0", "--quiet", "--image-bytes", str(image_bytes)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"on (http://\S+)", line)
        if not match:
            raise RuntimeError(f"sandbox did not start: {line}{proc.stderr.read()[-1000:]}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def complete(sandbox_url: str, transaction_id: str) -> None:
    host, _, port = sandbox_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = json.dumps({"outcome": "pass"})
        conn.request("POST", f"/_sandbox/transactions/{transaction_id}/complete", body,
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"sandbox complete answered {response.status}")
    finally:
        conn.close()


def host(function: str, spec: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Run ``bench.host`` for one function; its JSON answer."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [PYTHON, "-m", "tools.bench.host", function, json.dumps(spec)],
        cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=600, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"tools.bench.host {function} failed: {out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def function_env(base: Mapping[str, str], data_dir: Path, sandbox_url: str, public_url: str,
                 receivers: list[str]) -> dict[str, str]:
    hooks = [{"url": f"{url}/hook", "secret": WEBHOOK_SECRET} for url in receivers]
    return {
        **base,
        "KYC_BACKEND": "local",
        "KYC_DATA_DIR": str(data_dir),
        "KYC_PUBLIC_URL": public_url,
        "KYC_RETURN_URL_ALLOWLIST": f"{public_url}/",
        "KYC_JWT_SECRET": "bench-jwt-secret-0123456789abcdef0123456789",
        "KYC_USER_ID_PEPPER": "bench-pepper-0123456789",
        "KYC_RATE_LIMIT_PER_HOUR": "0",
        "CLOUDAUTH_ENDPOINT": sandbox_url,
        **SANDBOX_KEY.environment(),
        "KYC_WEBHOOKS": json.dumps(hooks),
        "KYC_WEBHOOK_ALLOW_PRIVATE": "Y",
    }
