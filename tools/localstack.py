"""The local stack's settings: where ``./scripts/dev`` writes them, and how every local tool finds them.

``./scripts/dev`` keeps two files in its data directory (``KYC_DATA_DIR``, default ``.kyc-data``):

* ``dev-secrets.json`` (0600, created once, kept across restarts): the JWT secret, the user-id pepper and the demo
  webhook secret it generated;
* ``local-stack.json`` (0600, rewritten at every start): the non-secret variables the functions ran with — backend,
  data directory, public URL, ports, the vendor endpoint, the exploring timings — and, only while the local sandbox
  plays the vendor, the sandbox's access key (never a real one).

:func:`resolve_env` is the one way the tools (``./scripts/kyc``, its console) read them: a variable set in the
environment always wins; with the local backend, whatever is missing comes from these two files. A real vendor or the
``aliyun`` backend is never filled in from local files.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import cast

from shared import jsonutil
from shared.webhooks import generate_secret
from tools.credentials import KEY_ID_VARIABLE, SECRET_VARIABLE

DEFAULT_DATA_DIR = ".kyc-data"
DEFAULT_HTTP_PORT = 9000
DEFAULT_SANDBOX_PORT = 9100
SECRETS_FILE = "dev-secrets.json"
STACK_FILE = "local-stack.json"

#: Which generated secret stands for which variable.
SECRET_VARIABLES = {"KYC_JWT_SECRET": "jwt_secret", "KYC_USER_ID_PEPPER": "user_id_pepper"}
#: The variables ``local-stack.json`` may record (no secret among them but the sandbox's public test key).
RECORDED_VARIABLES = (
    "KYC_BACKEND", "KYC_DATA_DIR", "KYC_PUBLIC_URL", "KYC_RETURN_URL_ALLOWLIST", "KYC_HTTP_PORT", "KYC_SANDBOX_PORT",
    "CLOUDAUTH_ENDPOINT", "CLOUDAUTH_REGION", "KYC_RATE_LIMIT_PER_HOUR", "KYC_RECHECK_SCHEDULE", "KYC_SWEEP_AFTER",
    "KYC_ABANDON_AFTER", "KYC_WEBHOOK_RETRY_SCHEDULE",
)  # fmt: skip
SANDBOX_KEY_VARIABLES = (KEY_ID_VARIABLE, SECRET_VARIABLE)
#: Recorded, never filled in: they are how the files are found (the backend, the data directory).
_FOUND_BY = frozenset({"KYC_BACKEND", "KYC_DATA_DIR"})


def data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("KYC_DATA_DIR") or DEFAULT_DATA_DIR)


def write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path``, readable by its owner only: also when the file existed with a wider mode (the mode
    of ``os.open`` applies only to a file it creates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


def write_stack_file(directory: Path, env: Mapping[str, str], *, sandbox_running: bool) -> Path:
    """Record what the running stack's functions use (``RECORDED_VARIABLES``; the sandbox's key only with it)."""
    names = RECORDED_VARIABLES + (SANDBOX_KEY_VARIABLES if sandbox_running else ())
    recorded = {name: env[name] for name in names if env.get(name)}
    path = directory / STACK_FILE
    write_private(path, jsonutil.dumps(recorded))
    return path


def read_stack_file(directory: Path) -> dict[str, str] | None:
    return _read_strings(directory / STACK_FILE)


class ResolvedEnv(Mapping[str, str]):
    """The environment plus the local stack's settings for what it lacks; tells ``on_first_use`` once, the first
    time a filled-in variable is actually read (so that commands which need none stay quiet)."""

    def __init__(self, env: Mapping[str, str], filled: dict[str, str], source: Path,
                 on_first_use: Callable[[str], None] | None = None) -> None:
        self._env = env
        self.filled = filled
        self.source = source
        self._on_first_use = on_first_use
        self._told = False

    def __getitem__(self, name: str) -> str:
        if name in self._env:
            return self._env[name]
        value = self.filled[name]
        if not self._told and self._on_first_use is not None:
            self._told = True
            self._on_first_use(f"using the local stack's settings from {self.source} (./scripts/dev wrote them)")
        return value

    def __iter__(self) -> Iterator[str]:
        yield from self._env
        yield from (name for name in self.filled if name not in self._env)

    def __len__(self) -> int:
        return len(set(self._env) | set(self.filled))

    def __contains__(self, name: object) -> bool:
        return name in self._env or name in self.filled


def resolve_env(env: Mapping[str, str], on_first_use: Callable[[str], None] | None = None) -> Mapping[str, str]:
    """``env`` completed from the local stack's files (local backend only; a set variable always wins)."""
    if (env.get("KYC_BACKEND") or "local").strip().lower() != "local":
        return env
    directory = data_dir(env)
    filled: dict[str, str] = {}
    stack = read_stack_file(directory) or {}
    own_vendor = bool(env.get("CLOUDAUTH_ENDPOINT")) or any(env.get(n) for n in SANDBOX_KEY_VARIABLES)
    for name, value in stack.items():
        if name in SANDBOX_KEY_VARIABLES and own_vendor:
            continue  # the environment names its own vendor or keys: never mix in the sandbox's
        if name == "CLOUDAUTH_ENDPOINT" and own_vendor:
            continue
        if not env.get(name) and name not in _FOUND_BY:
            filled[name] = value
    for name, key in SECRET_VARIABLES.items():
        stored = read_dev_secrets(directory) or {}
        if not env.get(name) and stored.get(key):
            filled[name] = stored[key]
    if not filled:
        return env
    return ResolvedEnv({k: v for k, v in env.items() if v}, filled, directory, on_first_use)
