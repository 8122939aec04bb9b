"""1. Cold start as FC runs it: the unpacked package, a fresh target Python, ``import index`` then ``initialize``.

For each function and backend one command: ``<target python> -I -S -B -c HANDLER`` with the function's unpacked
package as the only folder on ``sys.path`` (``deployed.py``). Every command — and the floor, ``python -c "import
json, hmac, hashlib, http.client"`` on the same interpreter with the same flags — runs once unmeasured (a failure
stops the benchmark), then ``iterations`` rounds. A round runs the floor, then each command followed by the floor
again, so every measured start sits between two floor runs made just before and just after it: its ratio is its
time to ready over the mean of those two, which cancels most of the drift in the shared machine's load. Reported
per command: the median of those paired ratios (``x_floor``), and medians of the time to ready, the time to exit
and peak RSS (``proc.measure_ready``) and of the import and of ``initialize`` (timed inside the process).

*To ready*: from the fork of the process to the moment it has done its work — the floor its imports, a handler
command ``import index`` and ``initialize`` — read on one monotonic clock (``proc.READY_LINE``). That is what an FC
instance pays before its first request. What the interpreter does after (finalising its modules, closing the
local backend's SQLite files, which checkpoints their WAL) is never on that path: FC stops an idle instance, no
request waits for it. It is reported as information (*to exit*, ``x_floor_to_exit``), paired the same way.

Flags, the same for the floor and the handlers: ``-I`` (no PYTHON* variables, no user site), ``-S`` (no
site-packages: only the package's folder and the standard library can be imported; this machine's .pth hooks are
not FC's), ``-B`` (FC's /code is read-only: nothing is written; the package's own unchecked-hash .pyc are read as
shipped). The ``aliyun`` backend points at endpoints that must not be connected during ``import``/``initialize``:
the command replaces ``socket.socket.connect``, ``socket.create_connection`` and ``socket.getaddrinfo`` with a
function that exits non-zero.

Then, unmeasured, ``importtime_runs`` runs of each command with ``-X importtime`` (``importtime.py``): where the
import time above the floor's own imports goes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.bench import importtime
from tools.bench.deployed import Packages
from tools.bench.proc import READY_LINE, measure_output, measure_ready, median
from tools.credentials import AccessKey
from tools.deployment import function_folders

BACKENDS = ("local", "aliyun")
FLAGS = ("-I", "-S", "-B")
FLOOR = "import json, hmac, hashlib, http.client"
#: Information, not judged: the floor plus ``logging``, which FC's Python runtime has loaded before it loads a handler
#: ("Function Compute: Logs", Python: ``logging.getLogger()`` in a handler already prints the time, RequestId and
#: level), so a deployed cold start does not pay for it; every handler here does.
FLOOR_WITH_LOGGING = FLOOR + ", logging"
MARK = "kyc-bench-phases"

HANDLER = """\
import sys, time
import socket
def _no_network(*args, **kwargs):
    raise SystemExit("import or initialize tried to use the network")
socket.socket.connect = socket.socket.connect_ex = _no_network
socket.create_connection = socket.getaddrinfo = _no_network
sys.path[:0] = [{folder!r}]
sys.path.extend({extra!r})
class Context:
    request_id = "1-cold-start"
    credentials = function = service = None
    region = "cn-hongkong"
started = time.perf_counter()
import index
imported = time.perf_counter()
if hasattr(index, "initialize"):
    index.initialize(Context())
done = time.perf_counter()
sys.stderr.write("{mark} %r %r\\n" % (imported - started, done - imported))
{ready}
"""

SECRET = "bench-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 - a benchmark fixture


def backend_env(backend: str, data_dir: Path) -> dict[str, str]:
    common = {
        "KYC_JWT_SECRET": SECRET,
        "KYC_USER_ID_PEPPER": "bench-pepper-0123456789",
        **AccessKey("bench-ak", "bench-secret").environment(),
        "KYC_WEBHOOKS": '[{"url": "https://hooks.example.com/kyc", '
        '"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]',
    }
    if backend == "local":
        return {
            **common,
            "KYC_BACKEND": "local",
            "KYC_DATA_DIR": str(data_dir),
            "KYC_PUBLIC_URL": "http://127.0.0.1:9000",
            "KYC_RETURN_URL_ALLOWLIST": "http://127.0.0.1:9000/",
            "CLOUDAUTH_ENDPOINT": "http://127.0.0.1:9100",
        }
    # Endpoints that do not exist: initialize must not connect (the child refuses any connection).
    return {
        **common,
        "KYC_BACKEND": "aliyun",
        "KYC_PUBLIC_URL": "https://kyc.example.com",
        "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
        "KYC_TABLESTORE_ENDPOINT": "https://bench.cn-hongkong.ots.aliyuncs.com",
        "KYC_TABLESTORE_INSTANCE": "bench",
        "KYC_OSS_REGION": "cn-hongkong",
        "KYC_OSS_BUCKET": "bench-bucket",
        "KYC_MNS_ENDPOINT": "https://123.mns.cn-hongkong.aliyuncs.com",
    }


def _base_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def handler_source(folder: str, extra_path: Sequence[str] = ()) -> str:
    """The cold-start program for the function unpacked in ``folder``: it reports its phases (``MARK``), then that it
    is ready (``proc.READY_LINE``)."""
    return HANDLER.format(folder=folder, extra=list(extra_path), mark=MARK, ready=READY_LINE)


def _phases(stderr: str) -> tuple[float, float]:
    for line in reversed(stderr.splitlines()):
        if line.startswith(MARK):
            _, imported, initialized = line.split()
            return float(imported), float(initialized)
    raise RuntimeError(f"the handler did not report its phases: {stderr[-1000:]}")


def run(code: Packages, iterations: int, importtime_runs: int) -> dict[str, Any]:
    """The cold-start table of one run (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="kyc-bench-cold-") as tmp:
        floor = f"{FLOOR}\n{READY_LINE}"
        commands: dict[str, tuple[list[str], dict[str, str]]] = {"floor": ([code.python, *FLAGS, "-c", floor],
                                                                           _base_env())}
        with_logging = ([code.python, *FLAGS, "-c", f"{FLOOR_WITH_LOGGING}\n{READY_LINE}"], _base_env())
        for backend in BACKENDS:
            env = {**_base_env(), **backend_env(backend, Path(tmp) / "data")}
            for fn in function_folders():
                unpacked = code.code[fn]
                source = handler_source(str(unpacked.folder), unpacked.extra_path)
                commands[f"{fn}/{backend}"] = ([unpacked.python, *FLAGS, "-c", source], env)
        for argv, env in commands.values():  # once unmeasured: a failing command stops the benchmark here
            measure_output(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}  # to ready
        exits: dict[str, list[float]] = {name: [] for name in commands}  # to exit (information)
        rss: dict[str, list[float]] = {name: [] for name in commands}
        ratios: dict[str, list[float]] = {name: [] for name in commands if name != "floor"}
        ratios_to_exit: dict[str, list[float]] = {name: [] for name in ratios}
        phases: dict[str, list[tuple[float, float]]] = {name: [] for name in commands if name != "floor"}
        logging_walls: list[float] = []
        ratios_with_logging: dict[str, list[float]] = {name: [] for name in ratios}

        def measured(name: str, argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
            ready, exit_wall, peak, stderr = measure_ready(argv, env)
            walls[name].append(ready)
            exits[name].append(exit_wall)
            rss[name].append(peak)
            return ready, exit_wall, stderr

        for _ in range(iterations):
            before, before_exit, _ = measured("floor", *commands["floor"])
            before_logging = measure_ready(*with_logging)[0]  # information, paired as the floor is
            logging_walls.append(before_logging)
            for name, (argv, env) in commands.items():
                if name == "floor":
                    continue
                ready, exit_wall, stderr = measured(name, argv, env)
                after, after_exit, _ = measured("floor", *commands["floor"])
                after_logging = measure_ready(*with_logging)[0]
                logging_walls.append(after_logging)
                phases[name].append(_phases(stderr))
                ratios[name].append(ready / ((before + after) / 2))
                ratios_to_exit[name].append(exit_wall / ((before_exit + after_exit) / 2))
                ratios_with_logging[name].append(ready / ((before_logging + after_logging) / 2))
                before, before_exit, before_logging = after, after_exit, after_logging
        traces: dict[str, list[list[importtime.Entry]]] = {name: [] for name in commands}
        for _ in range(importtime_runs):
            for name, (argv, env) in commands.items():
                _, _, stderr = measure_output([argv[0], "-X", "importtime", *argv[1:]], env)
                traces[name].append(importtime.parse(stderr))
    floor_modules = importtime.modules_of(traces["floor"])
    out: dict[str, Any] = {}
    for name in commands:
        row: dict[str, Any] = {"wall_ms": median(walls[name]) * 1000, "to_exit_ms": median(exits[name]) * 1000,
                               "rss_mib": median(rss[name]), "runs": len(walls[name]), "x_floor": 1.0,
                               "x_floor_to_exit": 1.0}
        if name == "floor":
            row["with_logging_wall_ms"] = median(logging_walls) * 1000
        else:
            row["x_floor"] = median(ratios[name])
            row["x_floor_to_exit"] = median(ratios_to_exit[name])
            row["x_floor_with_logging"] = median(ratios_with_logging[name])
            row["import_ms"] = median([p[0] for p in phases[name]]) * 1000
            row["initialize_ms"] = median([p[1] for p in phases[name]]) * 1000
            row["importtime"] = importtime.summary(traces[name], floor_modules)
        out[name] = row
    return out
