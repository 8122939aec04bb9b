"""The local stack's settings: where ``./scripts/dev`` writes them, and how every local tool finds them.

``./scripts/dev`` keeps three files in its data directory (``KYC_DATA_DIR``, default ``.kyc-data``):

* ``dev-secrets.json`` (0600, created once, kept across restarts): the JWT secret, the user-id pepper and the demo
  webhook secret it generated;
* ``local-stack.json`` (0600): written by whichever stack starts (``local`` or ``--aliyun-doubles`` backend),
  removed when it stops. It holds the stack's process id and every variable its functions run with (``KYC_*``,
  ``CLOUDAUTH_*``, ``ALIBABA_CLOUD_*``: backend and storage, public URL, webhooks, products, timings, secrets) and
  its ports. Access keys are recorded only while the stack's own sandbox plays the vendor (the sandbox's key, or
  the doubles' STS key): a real vendor's key is never written to disk by the stack;
* ``local-stack.lock``: the running stack holds an exclusive ``flock`` on it for as long as it runs. The process id
  alone cannot tell a live stack: after a hard kill or a reboot, another program may have been given that id.

:func:`resolve_env` is the one way the tools (``./scripts/kyc``, its console, its doctor) read them: a variable set
in the environment always wins; what is missing comes from the running stack's file. A file whose process has ended,
or whose lock no process holds (a stack killed without stopping), is ignored. An environment that chooses its own
backend (``KYC_BACKEND`` other than the stack's) or its own vendor (``CLOUDAUTH_ENDPOINT`` or an access key) is never
mixed with the stack's.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from shared import jsonutil
from shared.urls import plain_http_allowed
from shared.webhooks import generate_secret
from tools.credentials import KEY_ID_VARIABLE, SECRET_VARIABLE, TOKEN_VARIABLE

DEFAULT_DATA_DIR = ".kyc-data"
DEFAULT_HTTP_PORT = 9000
DEFAULT_SANDBOX_PORT = 9100
SECRETS_FILE = "dev-secrets.json"
STACK_FILE = "local-stack.json"
LOCK_FILE = "local-stack.lock"

#: The functions' variables: what the stack file records of the stack's environment.
FUNCTION_PREFIXES = ("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_")
#: Recorded only while the stack's own sandbox plays the vendor (then they are the sandbox's or the doubles' key).
KEY_VARIABLES = (KEY_ID_VARIABLE, SECRET_VARIABLE, TOKEN_VARIABLE)
START_HINT = "start ./scripts/dev (or export the deployment's variables)"


def data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("KYC_DATA_DIR") or DEFAULT_DATA_DIR)


def write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path``, readable by its owner only: also when the file existed with a wider mode (the mode
    of ``os.open`` applies only to a file it creates)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, 0o600)
        f.write(data)


def _read_strings(path: Path) -> dict[str, str] | None:
    try:
        value = jsonutil.loads(path.read_bytes())
    except (OSError, jsonutil.JSONDecodeError):
        return None
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return cast(dict[str, str], value)
    return None


def read_dev_secrets(directory: Path) -> dict[str, str] | None:
    return _read_strings(directory / SECRETS_FILE)


def dev_secrets(directory: Path) -> dict[str, str]:
    """Random secrets for this data directory, created once and kept (0600) so demo tokens survive restarts."""
    stored = read_dev_secrets(directory)
    if stored is not None:
        return stored
    values = {
        "jwt_secret": secrets.token_urlsafe(48),
        "user_id_pepper": secrets.token_urlsafe(32),
        "webhook_secret": generate_secret(),
    }
    write_private(directory / SECRETS_FILE, jsonutil.dumps(values))
    return values


def function_variables(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env`` the functions read (``FUNCTION_PREFIXES``), empty ones left out."""
    return {name: value for name, value in sorted(env.items()) if name.startswith(FUNCTION_PREFIXES) and value}


@dataclass(frozen=True)
class RunningStack:
    """What ``local-stack.json`` says of a running ``./scripts/dev``: its process, file and functions' variables."""

    pid: int
    path: Path
    env: dict[str, str]

    @property
    def backend(self) -> str:
        return (self.env.get("KYC_BACKEND") or "local").strip().lower() or "local"

    def describe(self) -> str:
        return f"the ./scripts/dev stack running as process {self.pid} (backend {self.backend}; {self.path})"


def write_stack_file(directory: Path, env: Mapping[str, str], *, sandbox_running: bool) -> Path:
    """Record the running stack (this process) and its functions' variables (the keys only with its sandbox)."""
    recorded = function_variables(env)
    if not sandbox_running:
        for name in KEY_VARIABLES:
            recorded.pop(name, None)
    path = directory / STACK_FILE
    acquire_stack_lock(directory)  # ./scripts/dev took it first thing (DevStack.start)
    partial = path.with_name(path.name + ".partial")  # a reader never sees half a file
    write_private(partial, jsonutil.dumps({"pid": os.getpid(), "env": recorded}))
    os.replace(partial, path)
    return path


def remove_stack_file(directory: Path) -> None:
    """Forget the stack when it stops: only the file this process wrote (another stack may have replaced it)."""
    path = directory / STACK_FILE
    stack = _read_stack(path)
    if stack is not None and stack.pid == os.getpid():
        path.unlink(missing_ok=True)


#: The stacks' lock files this process holds (directory → the descriptor whose flock it holds, or ``_NO_FLOCK``:
#: claimed where the filesystem has no flock).
_HELD: dict[Path, int] = {}
_NO_FLOCK = -1
#: How long :func:`acquire_stack_lock` tries: a tool checking for a stack holds the lock shared for microseconds.
LOCK_WAIT_SECONDS = 1.0


#: What :func:`acquire_stack_lock` found: it took the lock now; this process held it already; another process holds
#: it; the filesystem has no flock (then a stack's liveness rests on its process id alone).
TAKEN, HELD_ALREADY, BUSY, UNSUPPORTED = "taken", "held", "busy", "unsupported"


def acquire_stack_lock(directory: Path, wait: float = LOCK_WAIT_SECONDS) -> str:
    """Hold ``LOCK_FILE``'s exclusive flock for this process until :func:`release_stack_lock`, or until the process
    ends (the kernel lets go). Retries for ``wait`` while another process holds it (a tool's probe holds it shared
    for microseconds). Returns ``TAKEN``, ``HELD_ALREADY``, ``BUSY`` or ``UNSUPPORTED``."""
    key = directory.resolve()
    if key in _HELD:
        return HELD_ALREADY
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data directory: the owner's only
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.01)
                continue
            os.close(fd)
            return BUSY
        except OSError:
            os.close(fd)
            _HELD[key] = _NO_FLOCK  # claimed all the same: a second claim in this process is HELD_ALREADY
            return UNSUPPORTED
        _HELD[key] = fd
        return TAKEN


def release_stack_lock(directory: Path) -> None:
    fd = _HELD.pop(directory.resolve(), None)
    if fd is not None and fd != _NO_FLOCK:
        os.close(fd)  # closing lets go of the flock


def _locked(directory: Path) -> bool:
    """Whether a live process (this one included) holds the stack's lock; True where flock is not available."""
    return directory.resolve() in _HELD or _probe_lock(directory) != _FREE


def lock_held_elsewhere(directory: Path) -> bool:
    """Whether another process holds the stack's lock for certain (a stack starting, before its file is written);
    False where flock is not available."""
    return directory.resolve() not in _HELD and _probe_lock(directory) == _BUSY


_FREE, _BUSY, _NO_PROBE = "free", "busy", "no flock"


def _probe_lock(directory: Path) -> str:
    """Whether another process holds ``LOCK_FILE`` exclusively (``_BUSY``), nobody does or there is none (``_FREE``),
    or flock cannot tell (``_NO_PROBE``: then a stack's process id decides)."""
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return _FREE
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _BUSY
    except OSError:
        return _NO_PROBE
    finally:
        os.close(fd)
    return _FREE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive (a recycled pid is not told apart)
        return True
    return True


def _read_stack(path: Path) -> RunningStack | None:
    try:
        value = jsonutil.loads(path.read_bytes())
    except (OSError, jsonutil.JSONDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    pid, env = value.get("pid"), value.get("env")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or not isinstance(env, dict):
        return None  # an older stack's file, or a broken one
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return None
    return RunningStack(pid, path, cast(dict[str, str], env))


def running_stack(directory: Path) -> RunningStack | None:
    """The stack whose file is in ``directory`` if it still runs: its process exists and a process holds the
    stack's lock (a killed stack leaves its file, and its process id may be another program's by now)."""
    stack = _read_stack(directory / STACK_FILE)
    return stack if stack is not None and _alive(stack.pid) and _locked(directory) else None


class ResolvedEnv(Mapping[str, str]):
    """The environment plus the running stack's settings for what it lacks (``stack`` None: no stack runs, and
    :meth:`no_stack_hint` is what a failing command adds). Tells ``on_first_use`` once, the first time a filled-in
    variable is read, which stack they are from (so that commands which need nothing from it stay quiet)."""

    def __init__(self, env: Mapping[str, str], filled: dict[str, str], stack: RunningStack | None,
                 directory: Path, on_first_use: Callable[[str], None] | None = None) -> None:
        self._env = env
        self.filled = filled
        self.stack = stack
        self.directory = directory
        self._on_first_use = on_first_use
        self._told = False

    @property
    def given(self) -> Mapping[str, str]:
        """The environment as given, before the stack's settings filled it in."""
        return self._env

    def describe(self) -> str:
        """Where the settings come from, for a report's first line."""
        if self.stack is not None:
            return f"the process environment over {self.stack.describe()}"
        return f"the process environment (no ./scripts/dev stack is running in {self.directory}: {START_HINT})"

    def no_stack_hint(self) -> str | None:
        """For a command that failed for want of a setting or a connection: that no local stack runs."""
        return None if self.stack is not None else _no_stack_in(self.directory)

    def _tell(self, message: str) -> None:
        if not self._told and self._on_first_use is not None:
            self._told = True
            self._on_first_use(message)

    def __getitem__(self, name: str) -> str:
        if name in self._env:
            return self._env[name]
        value = self.filled[name]  # filled only from a running stack
        if self.stack is not None:
            self._tell(f"using the settings of {self.stack.describe()}")
        return value

    def __iter__(self) -> Iterator[str]:
        yield from self._env
        yield from (name for name in self.filled if name not in self._env)

    def __len__(self) -> int:
        return len(set(self._env) | set(self.filled))

    def __contains__(self, name: object) -> bool:
        return name in self._env or name in self.filled


#: Where a stack's functions connect: set to this machine, they name a local stack's sandbox or doubles.
_ENDPOINT_VARIABLES = ("CLOUDAUTH_ENDPOINT", "KYC_TABLESTORE_ENDPOINT", "KYC_OSS_ENDPOINT", "KYC_MNS_ENDPOINT")


def no_stack_hint(env: Mapping[str, str]) -> str | None:
    """For a command that failed for want of a setting or a connection: that no local stack runs, when the
    environment leaves its settings to one (:class:`ResolvedEnv`) or names endpoints on this machine (the doubles'
    env file sourced in a shell, as ``./scripts/dev --aliyun-doubles`` suggests) and none runs in its data
    directory. None for a deployment's own settings."""
    if isinstance(env, ResolvedEnv):
        return env.no_stack_hint()
    if not any(plain_http_allowed(env.get(name) or "") for name in _ENDPOINT_VARIABLES):
        return None
    directory = data_dir(env)
    return None if running_stack(directory) is not None else _no_stack_in(directory)


def _no_stack_in(directory: Path) -> str:
    return f"no ./scripts/dev stack is running in {directory}: {START_HINT}"


def resolve_env(env: Mapping[str, str], on_first_use: Callable[[str], None] | None = None) -> Mapping[str, str]:
    """``env`` completed from the running stack's file; ``env`` itself when it chooses a backend other than
    ``local`` (a deployment's settings: never completed from a local stack, not even from one on the doubles, whose
    pepper and endpoints would make ``erase`` hash the wrong user or delete on the double) or another backend than
    the stack's. With no stack running: ``env`` unless it leaves the backend to the default, ``local``. The shell
    of a stack on the doubles sources the variables file that stack wrote (``aliyun-doubles.env``)."""
    chosen = (env.get("KYC_BACKEND") or "").strip().lower()
    directory = data_dir(env)
    if chosen not in ("", "local"):
        return env  # a deployment's own settings
    stack = running_stack(directory)
    if stack is None:
        return ResolvedEnv({k: v for k, v in env.items() if v}, {}, None, directory, on_first_use)
    if chosen and chosen != stack.backend:
        return env
    own_vendor = bool(env.get("CLOUDAUTH_ENDPOINT")) or any(env.get(n) for n in KEY_VARIABLES)
    filled: dict[str, str] = {}
    for name, value in stack.env.items():
        if own_vendor and (name in KEY_VARIABLES or name == "CLOUDAUTH_ENDPOINT"):
            continue  # the environment names its own vendor or keys: never mix in the sandbox's
        if not env.get(name):
            filled[name] = value
    if not filled:
        return env
    return ResolvedEnv({k: v for k, v in env.items() if v}, filled, stack, directory, on_first_use)
