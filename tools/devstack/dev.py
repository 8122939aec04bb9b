"""``./scripts/dev``: the whole system on one machine, running the very same handler code as FC.

Starts, in one process: the cloudauth-intl sandbox (unless ``CLOUDAUTH_ENDPOINT`` points elsewhere), the local FC
gateway (``/verifications`` → initializer, ``/callback`` → result_fetcher, ``/`` → demo merchant page,
``/demo/webhooks`` → demo receiver), and the queue worker (re-check and notify queues as MNS-trigger events, the
sweeper on a timer). Every variable the functions read can be overridden from the environment; the local defaults
fill in the rest. Against the sandbox, ``./scripts/dev`` uses exploring timings (:data:`EXPLORING`) unless told
``--production-timings``. While it runs, its settings are recorded in the data directory for the tools
(:mod:`tools.localstack`).
Ctrl-C stops everything (from another shell, or for a stack in the background: ``./scripts/dev --stop``).

With the sandbox, the vendor region defaults to China (Hong Kong), the one region where every supported product
exists (eKYC only there, FACE_LIVENESS_PRO not in Kuala Lumpur), and the allowed products to all the supported ones
the region offers, so that a newcomer can try eKYC (Initialize), eKYC_PRO and FACE_LIVENESS_PRO (InitializeV2).
Against the real vendor (``CLOUDAUTH_ENDPOINT`` set) the code's defaults apply: only the products you configure.

Backends: ``local`` (SQLite and files in the data directory), or with ``--aliyun-doubles`` the ``aliyun`` backend
over local doubles of Tablestore, OSS and MNS laid out and configured as the deployment would (``aliyun.py``):
the storage variables are then the doubles', whatever the shell says.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from shared import jsonutil, products
from shared.auth import audience_claim, issue_token
from shared.cloudauth import CloudAuthSettings
from shared.config import ConfigError, env_int
from shared.fetch_settings import FetchSettings
from shared.notifications import WebhookSettings
from shared.storage import ConsumerQueue, StorageSettings, open_queue
from shared.sweeper import SweepSettings
from shared.verifications import FrontendSettings
from shared.wiring import build_sweeper
from tools.credentials import TOKEN_VARIABLE, AccessKey
from tools.deployment import DeploymentError
from tools.devstack.aliyun import ENV_FILE, AliyunDoubles, new_sts_token, write_env_file
from tools.devstack.demo import DemoApp
from tools.devstack.gateway import DEFAULT_ROUTES, Gateway
from tools.devstack.worker import QueueWorker
from tools.localstack import (
    DEFAULT_DATA_DIR,
    DEFAULT_HTTP_PORT,
    DEFAULT_SANDBOX_PORT,
    FUNCTION_PREFIXES,
    HELD_ALREADY,
    STACK_FILE,
    TAKEN,
    UNSUPPORTED,
    acquire_stack_lock,
    data_dir,
    dev_secrets,
    lock_held_elsewhere,
    release_stack_lock,
    remove_stack_file,
    running_stack,
    write_stack_file,
)
from tools.sandbox.config import SandboxConfig
from tools.sandbox.server import SandboxServer
from tools.serving import stop_requested

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The region the sandbox plays by default: the only one offering every supported product.
DEV_REGION = products.HONG_KONG


@dataclass
class DevConfig:
    host: str = "127.0.0.1"
    http_port: int = 9000
    sandbox_port: int = 9100
    data_dir: str = DEFAULT_DATA_DIR
    sweep_interval: float = 30.0
    poll_interval: float = 0.2
    quiet_sandbox: bool = True
    explore: bool = False  # exploring timings (EXPLORING) when the sandbox plays the vendor; ./scripts/dev sets it
    aliyun_doubles: bool = False  # KYC_BACKEND=aliyun over local doubles (aliyun.py) instead of local storage
    doubles_port: int = 9200  # Tablestore, OSS, MNS doubles on this port and the next two (0: any free ports)


#: ``./scripts/dev`` against the sandbox is for trying things: no rate limit, and every outcome settles within a
#: minute. Pending results are re-checked within seconds; a silent verification is first swept after 4 s, then at the
#: sweeper's doubling backoff (4, 8, 16 s: checks at about 4-6, 8-12, 16-22 and 32-40 s with a sweep every 2 s), so
#: one abandoned or expired on the vendor's page is abandoned 30-40 s after it started (a never-opened one, whose
#: re-checks backed off further too, up to about a minute), while a person still has 30 s on the vendor's page.
#: Never applied with a real vendor configured; a variable set in the environment wins.
EXPLORING: dict[str, str] = {
    "KYC_RATE_LIMIT_PER_HOUR": "0",
    "KYC_RECHECK_SCHEDULE": "2,3,5,10,20",
    "KYC_SWEEP_AFTER": "4",
    "KYC_ABANDON_AFTER": "30",
    "KYC_WEBHOOK_RETRY_SCHEDULE": "2,5,10,30,60",
    # The API shows no identity unless told (the disclosure policy); the demo page's card shows these, masked.
    "KYC_API_IDENTITY_FIELDS": "fullName,surname,givenName,documentNumber,birthDate,sex,nationality,expiryDate",
}
EXPLORING_SWEEP_INTERVAL = 2.0
_SWEEP_WORK = ("checked", "finalized", "abandoned", "stillPending", "renotified", "expired", "errors")


class QuietIdleSweeps(logging.Filter):
    """With a sweep every 2 s, the sweeper's "nothing to do" line would scroll everything else off the terminal:
    only sweeps that did something are logged (the sweeper's own logger, this process only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "sweep.done" or any(getattr(record, name, None) for name in _SWEEP_WORK)


class StartError(Exception):
    """The stack cannot start: one line per reason (a port in use, a configuration a function refuses)."""


#: What each listening port is, and where it is set, for a message when it cannot be bound.
_PORT_SETTINGS = {"gateway": "--port / KYC_HTTP_PORT", "sandbox": "--sandbox-port / KYC_SANDBOX_PORT",
                  "doubles": "--doubles-port / KYC_DOUBLES_PORT"}


def _cannot_bind(what: str, port: int | str, exc: OSError | OverflowError) -> StartError:
    if isinstance(exc, OverflowError):
        return StartError(f"port {port} ({what}) is not a port number (0-65535): set {_PORT_SETTINGS[what]}")
    if exc.errno == errno.EADDRINUSE:
        return StartError(f"port {port} ({what}) is in use: another ./scripts/dev? set {_PORT_SETTINGS[what]}")
    return StartError(f"port {port} ({what}) cannot be opened ({exc.strerror or type(exc).__name__}): "
                      f"set {_PORT_SETTINGS[what]}")


def _accepting(config: SandboxConfig, sts_token: str | None) -> SandboxConfig:
    return config if sts_token is None else replace(config, security_tokens=config.security_tokens | {sts_token})


class DevStack:
    """Everything ``./scripts/dev`` runs; usable in-process by tests (``port 0`` everywhere).

    ``doubles``: already running aliyun doubles to use (the aliyun backend then; tests share one set), left running
    by :meth:`stop`. Without them, ``config.aliyun_doubles`` starts a set of its own."""

    def __init__(
        self, config: DevConfig, env: MutableMapping[str, str] | None = None, doubles: AliyunDoubles | None = None
    ) -> None:
        self.config = config
        self.doubles = doubles
        self._own_doubles = False
        self.env = os.environ if env is None else env
        self.data_dir = Path(self.env.get("KYC_DATA_DIR") or config.data_dir).resolve()
        #: The settings the shell set before the stack added its own (values kept in memory only, to tell which
        #: the stack replaced: its sandbox's key over a real one, its doubles' storage; the banner names them).
        self._shell_settings = {name: value for name, value in self.env.items() if value and name != "KYC_DATA_DIR"
                                and name.startswith((*FUNCTION_PREFIXES, "SANDBOX_"))}
        self.secrets = dev_secrets(self.data_dir)
        self.sandbox: SandboxServer | None = None
        self.gateway: Gateway | None = None
        self.worker: QueueWorker | None = None
        self._quiet_sweeps = QuietIdleSweeps()
        self._stack_file_written = False
        self._env_file_written = False  # ENV_FILE (with the doubles): stop removes it only then
        self.forgotten = 0  # PENDING rows of an earlier run abandoned at start (see _abandon_forgotten)
        self._owns_lock = False  # this stack took the data directory's lock (_claim_data_dir): stop releases it
        self.demo = DemoApp(jwt_secret=self._setting("KYC_JWT_SECRET", self.secrets["jwt_secret"]),
                            webhook_secret=self.secrets["webhook_secret"],
                            jwt_audience=(self.env.get("KYC_JWT_AUDIENCE") or "").strip() or None)

    def _setting(self, name: str, default: str) -> str:
        return self.env.get(name) or default

    def start(self) -> DevStack:
        env = self.env
        self._claim_data_dir()
        if not env.get("CLOUDAUTH_ENDPOINT"):
            region = env.setdefault("CLOUDAUTH_REGION", DEV_REGION)
            offered = products.supported_in(region)
            if offered:
                env.setdefault("CLOUDAUTH_PRODUCT_CODE", offered[0])
                env.setdefault("CLOUDAUTH_PRODUCTS", ",".join(offered))
            else:  # an unknown region: the functions' settings refuse it, naming the variable
                CloudAuthSettings.from_env(env)
            sts_token = self._sts_token()
            try:
                config = SandboxConfig.from_env(env, host=self.config.host, port=self.config.sandbox_port)
            except ValueError as exc:
                raise StartError(f"the sandbox's settings (SANDBOX_* variables): {exc}") from None
            self.sandbox = SandboxServer(_accepting(config, sts_token), verbose=not self.config.quiet_sandbox)
            try:
                env["CLOUDAUTH_ENDPOINT"] = self.sandbox.start()
            except (OSError, OverflowError) as exc:
                self.sandbox = None
                raise _cannot_bind("sandbox", self.config.sandbox_port, exc) from None
            env.pop(TOKEN_VARIABLE, None)
            accepted = self.sandbox.config
            env.update(AccessKey(accepted.access_key_id, accepted.access_key_secret, sts_token).environment())
        try:
            self.gateway = Gateway(
                PROJECT_ROOT / "functions",
                routes=DEFAULT_ROUTES,
                extra_handlers={"/": self.demo},
                host=self.config.host,
                port=self.config.http_port,
                public_url=env.get("KYC_PUBLIC_URL"),  # a tunnel of the developer's, set before the defaults
            )
        except (OSError, OverflowError) as exc:
            raise _cannot_bind("gateway", self.config.http_port, exc) from None
        base = self.gateway.url
        defaults = {
            "KYC_BACKEND": "local",
            "KYC_DATA_DIR": str(self.data_dir),
            "KYC_PUBLIC_URL": base,
            "KYC_JWT_SECRET": self.secrets["jwt_secret"],
            "KYC_USER_ID_PEPPER": self.secrets["user_id_pepper"],
            # The demo page is opened at either loopback name the gateway answers to (tools.serving.answers_host).
            "KYC_RETURN_URL_ALLOWLIST": f"{base}/,http://localhost:{self.gateway.port}/",
            "KYC_CORS_ORIGINS": f"{base},http://localhost:{self.gateway.port}",
            "KYC_WEBHOOKS": jsonutil.dumps_str(
                [{"url": f"{base}/demo/webhooks", "secret": self.secrets["webhook_secret"], "includePii": False}]
            ),
            "KYC_WEBHOOK_ALLOW_PRIVATE": "Y",  # the demo receiver is on loopback
            # The code's default, written out so that the stack file and the doubles' env file carry it: `kyc sweep`
            # and `kyc refetch` from either shell then work this stack as its own functions do (they refuse a
            # deployment's without it: tools/ops/transactions.py).
            "KYC_DELETE_VENDOR_COPY": "N",
        }
        if self.exploring:
            defaults.update(EXPLORING)
        for name, value in defaults.items():
            env.setdefault(name, value)
        self.demo.settle_note = (
            f"On this stack an unfinished verification is abandoned at its first check once "
            f"{SweepSettings.from_env(env).abandon_after_seconds:g} s old (checks back off: up to about twice that; "
            f"the sweeper runs every {self.sweep_interval:g} s)." if self.sweep_interval > 0 else ""
        )
        if self.doubles is not None or self.config.aliyun_doubles:
            self._start_doubles()
        self._check_configuration()
        self.forgotten = self._abandon_forgotten()
        self.gateway.start()
        storage = StorageSettings.from_env(env)
        queues = {name: cast(ConsumerQueue, open_queue(storage, name)) for name in ("recheck", "notify")}
        timers = [("sweeper", self.sweep_interval)] if self.sweep_interval > 0 else []
        if self.exploring:
            logging.getLogger("kyc.sweeper").addFilter(self._quiet_sweeps)
        origin: dict[str, Any] = {}  # the CloudEvents' subject names the queue's account and region (EventBridge)
        if self.doubles is not None:
            origin = {"region": self.doubles.layout.region, "account_id": self.doubles.layout.account_id}
        self.worker = QueueWorker(
            self.gateway.invoke,
            queues,
            open_queue(storage, "deadletter"),
            poll_interval=self.config.poll_interval,
            timers=timers,
            **origin,
        ).start()
        write_stack_file(self.data_dir, {**env, **self._ports()}, sandbox_running=self.sandbox is not None)
        self._stack_file_written = True
        return self

    def _claim_data_dir(self) -> None:
        """First thing at start: the data directory's lock (:func:`acquire_stack_lock`). Two stacks on one data
        directory would share its rows but not their sandboxes (each one's sweeper would ask its own sandbox of the
        other's transactions), and the CLI would follow whichever started last: a second one is refused, in
        another process (the lock is held) or in this one (this process holds it already). Where the filesystem
        has no flock, a live process named by the stack file decides."""
        found = acquire_stack_lock(self.data_dir)
        other = running_stack(self.data_dir) if found != TAKEN else None
        if found == TAKEN or (found == UNSUPPORTED and (other is None or other.pid == os.getpid())):
            self._owns_lock = True
            if found == TAKEN:  # a stack file here is a dead stack's: its process id may name another program by now
                (self.data_dir / STACK_FILE).unlink(missing_ok=True)  # (./scripts/dev --stop would signal it)
            return
        if found == UNSUPPORTED:
            release_stack_lock(self.data_dir)  # the claim this call made: this stack does not run
        if found == HELD_ALREADY:
            who = "another stack in this process"
        else:
            who = f"process {other.pid}" if other is not None else "another process"
        raise StartError(f"another ./scripts/dev ({who}) uses {self.data_dir}: stop it, or give this one its own "
                         "KYC_DATA_DIR (and ports: KYC_HTTP_PORT, KYC_SANDBOX_PORT)")

    def _check_configuration(self) -> None:
        """Every function's ``initialize`` once, as FC runs it when an instance starts, then the settings the
        functions read only at their first event (webhooks, re-checks, sweeps): :class:`StartError` with each
        configuration error's one-line message (it names the variable, never its value)."""
        assert self.gateway is not None
        refused_by: dict[str, list[str]] = {}  # message -> the functions whose initialize failed with it
        # The functions read the process environment: a stack given an env of its own (tests of its settings) has
        # functions that cannot see it, so only the settings below are checked then.
        initialized = self.gateway.initialize_all() if self.env is os.environ else {}
        for function, message in initialized.items():
            refused_by.setdefault(message, []).append(function)
        for settings in (WebhookSettings, FetchSettings, SweepSettings, FrontendSettings):
            try:
                settings.from_env(self.env)
            except ConfigError as exc:
                refused_by.setdefault(str(exc), [])
        if refused_by:
            raise StartError("\n".join(
                f"{message} (initialize fails in {', '.join(functions)})" if functions else message
                for message, functions in refused_by.items()
            ))

    def _abandon_forgotten(self) -> int:
        """The rows an earlier run left PENDING when this stack's own sandbox plays the vendor: the sandbox keeps
        transactions in memory, so this one never knew them and they can never finish. Abandoned and announced at
        once through the sweeper's own path (otherwise the sweeper would ask the vendor in vain, logging each as an
        anomaly, until ``KYC_ABANDON_AFTER``); the banner says how many. Not done on storage this stack does not own
        (doubles it was given), nor unless this stack took the data directory's lock (another stack's sandbox would
        still know its own), nor with a real vendor (it still knows them)."""
        if self.sandbox is None or (self.doubles is not None and not self._own_doubles):
            return 0
        if not self._owns_lock:  # another stack may run on this data directory: its sandbox still knows its rows
            return 0
        sweeper = build_sweeper(self.env)
        try:
            return sweeper.abandon_forgotten(created_before=time.time())
        finally:
            sweeper.fetcher.client.close()

    @property
    def exploring(self) -> bool:
        """Exploring timings apply: asked for, and the local sandbox plays the vendor (never a real one)."""
        return self.config.explore and self.sandbox is not None

    @property
    def sweep_interval(self) -> float:
        if self.exploring and self.config.sweep_interval > 0:
            return min(self.config.sweep_interval, EXPLORING_SWEEP_INTERVAL)
        return self.config.sweep_interval
    def _sts_token(self) -> str | None:
        """With the doubles, the functions get an STS key as FC's role gives them (key, secret and token): the
        sandbox and the doubles accept the token, and refuse the key without it."""
        if self.doubles is not None:
            return self.doubles.security_token
        return new_sts_token() if self.config.aliyun_doubles else None

    def _ports(self) -> dict[str, str]:
        """Where the operator tools find this stack's gateway (``kyc invoke``) and sandbox."""
        ports = {"KYC_HTTP_PORT": str(self.gateway.port)} if self.gateway is not None else {}
        if self.sandbox is not None:
            ports["KYC_SANDBOX_PORT"] = str(self.sandbox.port)
        return ports

    def _start_doubles(self) -> None:
        """Start the doubles (unless given), point the storage variables at them, write ``ENV_FILE``."""
        if self.doubles is None:
            port = self.config.doubles_port
            doubles = AliyunDoubles.from_env(self.env, host=self.config.host, port=port)
            try:
                doubles.start()
            except (OSError, OverflowError) as exc:
                raise _cannot_bind("doubles", f"{port}-{port + 2}" if port else port, exc) from None
            self.doubles = doubles
            self._own_doubles = True
        self.env.update(self.doubles.environment(self.env))
        # The key only when it is the stack's own (its sandbox plays the vendor), as in the stack file; the ports, as
        # there too: a shell that sourced this file chooses the aliyun backend, and takes nothing from the stack file.
        write_env_file(self.data_dir / ENV_FILE, {**self.env, **self._ports()}, with_keys=self.sandbox is not None)
        self._env_file_written = True

    def stop(self) -> None:
        """Forget the stack file first (a tool run meanwhile finds no stack rather than a stopping one), then stop
        the worker, the gateway, the sandbox and the doubles this stack started."""
        if self._stack_file_written:
            remove_stack_file(self.data_dir)
            self._stack_file_written = False
        if self._env_file_written:  # the variables file is this running stack's, like the stack file
            (self.data_dir / ENV_FILE).unlink(missing_ok=True)
            self._env_file_written = False
        logging.getLogger("kyc.sweeper").removeFilter(self._quiet_sweeps)
        if self.worker is not None:
            self.worker.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.doubles is not None and self._own_doubles:
            self.doubles.stop()
        if self._owns_lock:  # last: another stack may start on this data directory now
            release_stack_lock(self.data_dir)
            self._owns_lock = False

    def _product_lines(self, base: str) -> list[str]:
        """The vendor region and the products a request may name, with their start operations, as the functions will
        read them (a configuration they would refuse is shown here already)."""
        try:
            settings = CloudAuthSettings.from_env(self.env)
        except ConfigError as exc:
            return [f"  products             {exc}"]  # "configuration error: <variable> ..."
        described = [f"{code} ({products.PRODUCTS[code].start_operation})" for code in settings.allowed_products]
        return [
            f"  vendor region        {products.describe_regions((settings.region,))}",
            f"  products             {', '.join(described)}",
            f"                       (POST /verifications productCode, default {settings.product_code}; "
            f"GET {base}/verifications/products)",
        ]

    def demo_token(self, user: str = "demo-user") -> str:
        return issue_token(user, self.env["KYC_JWT_SECRET"], ttl=12 * 3600,
                           extra_claims=audience_claim(self.demo.jwt_audience))

    def timing_lines(self) -> list[str]:
        """What a person trying outcomes needs to know: when pending, silent and unfinished ones settle."""
        # As the functions read them (their settings classes, their defaults): the stack started, so they parse.
        rate = FrontendSettings.from_env(self.env).rate_limit_per_hour
        schedule = FetchSettings.from_env(self.env).recheck_schedule
        sweep = SweepSettings.from_env(self.env)
        return [
            "  timings              " + ("exploring (sandbox only; --production-timings for the deployed ones)"
                                         if self.exploring else "as deployed"),
            f"    rate limit         {'off' if rate == 0 else f'{rate} verifications per user per hour'}",
            f"    pending re-checks  after {','.join(f'{s:g}' for s in schedule)} s",
            f"    sweeper            every {self.sweep_interval:g} s; a silent verification is checked after "
            f"{sweep.sweep_after_seconds:g} s, an unfinished one abandoned at its first check once "
            f"{sweep.abandon_after_seconds:g} s old (checks back off: up to about twice that)",
            # Review aq: when a refused webhook becomes a dead letter (docs/operations.md's rehearsal needs it).
            f"    webhook retries    after {','.join(f'{s:g}' for s in sweep.webhook_retry_schedule)} s, "
            "then a dead letter",
        ]

    def banner(self) -> str:
        assert self.gateway is not None
        base = self.gateway.url
        lines = [
            "fc-ekyc local stack is running (Ctrl-C stops it; from another shell: ./scripts/dev --stop)",
            f"  demo merchant page   {base}/",
            f"  API                  {base}/verifications   (POST, GET /verifications/<merchantBizId>)",
            f"  vendor callback      {base}/callback",
            f"  demo webhooks        {base}/demo/webhooks",
            f"  FC 3.0 API           {base}/2023-03-30/functions/<name>/invocations   (./scripts/kyc invoke)",
            f"    names              {', '.join(self.gateway.fc3_api.names)}",
            f"  cloudauth endpoint   {self.env['CLOUDAUTH_ENDPOINT']}"
            + ("  (local sandbox; control API under /_sandbox/)" if self.sandbox else ""),
            *self._product_lines(base),
            *self._backend_lines(),
            f"  data directory       {self.data_dir}   (./scripts/kyc finds this stack there: {STACK_FILE}"
            + ("" if self.data_dir == Path(DEFAULT_DATA_DIR) else
               f"; in another shell: export KYC_DATA_DIR={shlex.quote(str(self.data_dir))}") + ")",
            *self._shell_lines(),
            *self._forgotten_lines(),
            *self.timing_lines(),
            "  demo JWT (user 'demo-user', 12 h):",
            f"    {self.demo_token()}",
        ]
        return "\n".join(lines)

    def shell_settings(self) -> tuple[list[str], list[str]]:
        """The names of the shell's settings the functions run with, and of those the stack replaced."""
        kept = sorted(name for name, value in self._shell_settings.items() if self.env.get(name) == value)
        return kept, sorted(set(self._shell_settings) - set(kept))

    def _shell_lines(self) -> list[str]:
        kept, replaced = self.shell_settings()
        lines = []
        if kept:
            lines += [f"  from your shell      {', '.join(kept)}",
                      "                       (set in the environment: each wins over the stack's default)"]
        if replaced:
            lines += [f"  replaced by the stack {', '.join(replaced)}",
                      "                       (the functions run with the stack's: its sandbox's key, its doubles)"]
        return lines

    def _forgotten_lines(self) -> list[str]:
        if not self.forgotten:
            return []
        what = "1 verification" if self.forgotten == 1 else f"{self.forgotten} verifications"
        return [f"  earlier run          {what} left PENDING by an earlier run marked ABANDONED and announced: the "
                "sandbox keeps its transactions in memory, so they could never finish"]

    def _backend_lines(self) -> list[str]:
        if self.doubles is None:
            return ["  backend              local (SQLite and files in the data directory)"]
        cli = f"    operator CLI       ./scripts/kyc doctor (or, in a shell of its own: . {self.data_dir / ENV_FILE})"
        return [*self.doubles.banner_lines(), cli]


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


#: How long ``--stop`` waits for the stack to let go of its data directory (its own stop joins every server).
STOP_WAIT_SECONDS = 30.0


def stop_running_stack(directory: Path, wait: float = STOP_WAIT_SECONDS) -> int:
    """``./scripts/dev --stop``: ask the stack that runs with ``directory`` to stop (SIGTERM, which it handles as
    Ctrl-C), then wait until it no longer holds the directory. 0 when it stopped or none ran, 1 when it did not stop
    within ``wait`` seconds. A stack still starting (it holds the directory's lock, its file is not written yet) is
    waited for, up to ``wait`` seconds, then stopped."""
    stack = running_stack(directory)
    if stack is None and lock_held_elsewhere(directory):
        print(f"dev: a ./scripts/dev is starting with {directory}: waiting until it can be stopped", file=sys.stderr)
        deadline = time.monotonic() + wait
        while stack is None and lock_held_elsewhere(directory):
            if time.monotonic() >= deadline:
                print(f"dev: the ./scripts/dev starting with {directory} has not finished starting {wait:g} s later; "
                      "stop it yourself (Ctrl-C where it runs)", file=sys.stderr)
                return 1
            time.sleep(0.1)
            stack = running_stack(directory)
    if stack is None:
        print(f"dev: no ./scripts/dev runs with {directory}: nothing to stop", file=sys.stderr)
        return 0
    try:
        os.kill(stack.pid, signal.SIGTERM)
    except ProcessLookupError:  # it ended between the look and the signal
        pass
    except PermissionError:
        print(f"dev: process {stack.pid} is not yours to stop", file=sys.stderr)
        return 1
    deadline = time.monotonic() + wait
    while running_stack(directory) is not None:
        if time.monotonic() >= deadline:
            print(f"dev: process {stack.pid} still runs {wait:g} s after SIGTERM; stop it yourself "
                  f"(kill {stack.pid})", file=sys.stderr)
            return 1
        time.sleep(0.1)
    print(f"dev: stopped the stack of process {stack.pid} ({directory})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/dev", description="Run the whole eKYC system locally.")
    try:
        http_port = env_int(os.environ, "KYC_HTTP_PORT", DEFAULT_HTTP_PORT, minimum=0, maximum=65535)
        sandbox_port = env_int(os.environ, "KYC_SANDBOX_PORT", DEFAULT_SANDBOX_PORT, minimum=0, maximum=65535)
        doubles_port = env_int(os.environ, "KYC_DOUBLES_PORT", 9200, minimum=0, maximum=65533)
    except ConfigError as exc:
        parser.error(str(exc))
    parser.add_argument("--host", default="127.0.0.1",
                        help="address every server listens on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=http_port,
                        help=f"the gateway's port: API, callback, demo page, FC API (default KYC_HTTP_PORT, else "
                        f"{DEFAULT_HTTP_PORT}; 0: any free port)")
    parser.add_argument("--sandbox-port", type=_port, default=sandbox_port,
                        help=f"the cloudauth-intl sandbox's port (default KYC_SANDBOX_PORT, else "
                        f"{DEFAULT_SANDBOX_PORT}; 0: any free port)")
    parser.add_argument("--sweep-interval", type=float, default=30.0, help="seconds between sweeper runs (0: off)")
    parser.add_argument("--verbose-sandbox", action="store_true", help="log every sandbox request")
    parser.add_argument("--production-timings", action="store_true",
                        help="keep the deployed rate limit, re-check, sweep and abandon timings with the sandbox too "
                        "(by default every outcome settles within a minute there)")
    parser.add_argument(
        "--aliyun-doubles", action="store_true",
        help=("KYC_BACKEND=aliyun over local Tablestore, OSS and MNS doubles, the storage configured as s.yaml "
              "configures FC; the behaviour settings (KYC_DELETE_VENDOR_COPY, retention, timings) stay the local "
              "stack's"),
    )
    parser.add_argument("--doubles-port", type=_port, default=doubles_port,
                        help="first of the three doubles' ports (default KYC_DOUBLES_PORT, else 9200; 0: any free "
                        "ports)")
    parser.add_argument("--stop", action="store_true",
                        help="stop the ./scripts/dev that runs with this data directory (KYC_DATA_DIR, else "
                        ".kyc-data) and wait until it has stopped, instead of starting one")
    args = parser.parse_args(argv)
    if args.stop:
        return stop_running_stack(data_dir(os.environ).resolve())  # as DevStack reads it (config: the default)
    config = DevConfig(
        host=args.host,
        http_port=args.port,
        sandbox_port=args.sandbox_port,
        sweep_interval=args.sweep_interval,
        quiet_sandbox=not args.verbose_sandbox,
        explore=not args.production_timings,
        aliyun_doubles=args.aliyun_doubles,
        doubles_port=args.doubles_port,
    )
    stack = DevStack(config)
    try:
        stack.start()
    except (StartError, ConfigError, OSError, DeploymentError) as exc:
        stack.stop()
        for line in str(exc).splitlines():
            print(f"dev: cannot start: {line}", file=sys.stderr)
        return 1
    stop = stop_requested()
    print(stack.banner(), flush=True)
    stop.wait()
    print("stopping...", file=sys.stderr, flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
