"""Import budget (modules, not milliseconds): a cold start loads only what its path needs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.auth import issue_token
from shared.storage import StorageSettings, open_queue
from tools.bench.cold import backend_env
from tools.bench.proc import child_env
from tools.bench.stack import Recorder, complete, function_env, sandbox
from tools.devstack.gateway import make_http_event
from tools.devstack.worker import cloud_events

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("initializer", "result_fetcher", "notifier", "sweeper")
# Never on the local path. jwt: shared.auth verifies HS256 itself (base64 + hmac + json), so no function loads
# PyJWT, nor cryptography (which PyJWT would probe for).
HEAVY = ("tablestore", "alibabacloud_oss_v2", "oss2", "mns", "aiohttp", "requests", "numpy", "flatbuffers",
         "crc32c", "Tea", "cryptography", "jwt")
# Also never on the local path: what PyJWT used to pull in (the cold-start floor does not load them either).
LOCAL_NEVER = ("urllib.request", "tempfile", "shutil", "bz2", "lzma")
# With the aliyun backend, initialize checks every setting but builds no SDK client: each storage adapter imports
# its SDK at its first call that needs it (shared.lazy.Lazy). Nor does it load what the adapters parse answers with
# (xml.etree: MNS) or the local backend's sqlite3.
ALIYUN_NEVER = (*HEAVY, "google.protobuf", "urllib3", "xml.etree.ElementTree", "sqlite3")
# On neither backend: what dataclasses and pathlib cost at start (docs/performance.md, "What phase 3 changed"), nor
# the importlib package (shared.lazy resolves names with __import__).
STDLIB_NEVER = ("dataclasses", "inspect", "ast", "dis", "pathlib", "importlib")
# Nor, on the local backend, standard modules a few lines replace (docs/performance.md, "Phase 7"): contextlib
# (context managers are plain classes, ``suppress`` a try/except), secrets (``os.urandom``, ``hmac.compare_digest``,
# ``random.SystemRandom``: what it wraps). The aliyun backend's Tablestore adapter still uses both.
LOCAL_STDLIB_NEVER = ("contextlib", "secrets")

PROBE = """\
import json, sys
sys.path[:0] = [{fn_dir!r}]
import index
index.initialize(None)
print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""


def loaded_after_initialize(
    function: str, backend: str, tmp_path: Path, modules: tuple[str, ...] = HEAVY
) -> set[str]:
    return set(probe(PROBE.format(fn_dir=str(ROOT / "functions" / function), heavy=modules), backend, tmp_path))


def probe(code: str, backend: str, tmp_path: Path) -> Any:
    """The JSON ``code`` prints last, run in a fresh interpreter with ``backend``'s settings and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "ALIBABA_CLOUD_", "CLOUDAUTH_"))}
    env.update(backend_env(backend, tmp_path / "data"))
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_local_backend_cold_start_loads_no_vendor_sdk_nor_heavy_library(function: str, tmp_path: Path) -> None:
    assert loaded_after_initialize(function, "local", tmp_path) == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_local_backend_cold_start_loads_no_archive_nor_url_opener_modules(function: str, tmp_path: Path) -> None:
    assert loaded_after_initialize(function, "local", tmp_path, LOCAL_NEVER) == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_aliyun_backend_initialize_imports_no_cloud_sdk(function: str, tmp_path: Path) -> None:
    assert loaded_after_initialize(function, "aliyun", tmp_path, ALIYUN_NEVER) == set()


def test_the_notifier_s_start_loads_no_queue_adapter_it_sends_to_only_on_a_retry_or_a_dead_letter(
    tmp_path: Path,
) -> None:
    assert loaded_after_initialize("notifier", "aliyun", tmp_path, ("shared.storage.mns",)) == set()
    assert loaded_after_initialize("notifier", "local", tmp_path, ("shared.storage.sqlite_queue",)) == set()


HTTP_ADAPTERS = ("shared.fc.http", "shared.fc.router")


@pytest.mark.parametrize(("function", "not_its_triggers"), [
    ("initializer", ("shared.fc.queue",)),  # HTTP only
    ("notifier", HTTP_ADAPTERS),  # the notify queue only
    ("sweeper", (*HTTP_ADAPTERS, "shared.fc.queue", "shared.fc.events", "shared.fc.errors")),  # its timer only
])
def test_a_function_s_start_loads_the_event_adapters_of_its_own_triggers_only(
    function: str, not_its_triggers: tuple[str, ...], tmp_path: Path
) -> None:
    assert loaded_after_initialize(function, "local", tmp_path, not_its_triggers) == set()


FETCHING_CODE = ("shared.fetcher", "shared.results", "shared.cloudauth.client")

IDLE_SWEEP_PROBE = """\
import json, sys
sys.path[:0] = [{fn_dir!r}]
import index
index.initialize(None)
report = index.handler({{}}, None)
assert report["checked"] == 0, report
print(json.dumps([m for m in {modules!r} if m in sys.modules]))
"""


@pytest.mark.parametrize("backend", ["local", "aliyun"])
def test_the_sweeper_s_start_loads_no_fetching_code(backend: str, tmp_path: Path) -> None:
    assert loaded_after_initialize("sweeper", backend, tmp_path, FETCHING_CODE) == set()


def test_a_sweep_with_nothing_to_do_loads_no_fetching_code(tmp_path: Path) -> None:
    """Most timer runs of a healthy deployment: nothing to re-check, announce or delete at the vendor."""
    code = IDLE_SWEEP_PROBE.format(fn_dir=str(ROOT / "functions" / "sweeper"), modules=FETCHING_CODE)
    assert set(probe(code, "local", tmp_path)) == set()


@pytest.mark.parametrize("backend", ["local", "aliyun"])
def test_the_notifier_s_start_with_one_subscriber_loads_no_thread_pool(backend: str, tmp_path: Path) -> None:
    # One subscriber (backend_env's KYC_WEBHOOKS) is sent to on the calling thread; the pool is for several.
    assert loaded_after_initialize("notifier", backend, tmp_path, ("concurrent.futures",)) == set()


@pytest.mark.parametrize("backend", ["local", "aliyun"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_cold_start_does_not_import_typing(function: str, backend: str, tmp_path: Path) -> None:
    assert loaded_after_initialize(function, backend, tmp_path, ("typing",)) == set()


@pytest.mark.parametrize("backend", ["local", "aliyun"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_cold_start_imports_no_costly_standard_module(function: str, backend: str, tmp_path: Path) -> None:
    assert loaded_after_initialize(function, backend, tmp_path, STDLIB_NEVER) == set()


# What ``logging`` and ``sqlite3`` load is theirs (Python 3.11's traceback imports contextlib; 3.10's, which FC runs,
# does not): the modules of LOCAL_STDLIB_NEVER a start loads after them, and the modules of ours it ran.
STDLIB_AFTER_LOGGING_PROBE = """\
import json, sys
import logging, sqlite3
before = set(sys.modules)
sys.path[:0] = [{fn_dir!r}]
import index
index.initialize(None)
new = [m for m in {modules!r} if m in sys.modules and m not in before]
ours = sorted(m for m in sys.modules if m == "index" or m == "shared" or m.startswith("shared."))
print(json.dumps({{"new": new, "ours": ours}}))
"""


def module_level_imports(source: str) -> set[str]:
    """Top-level module names ``source`` imports when it is run (not inside a function or class body)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return names


@pytest.mark.parametrize("function", FUNCTIONS)
def test_local_cold_start_imports_no_standard_module_a_few_lines_replace(function: str, tmp_path: Path) -> None:
    code = STDLIB_AFTER_LOGGING_PROBE.format(fn_dir=str(ROOT / "functions" / function), modules=LOCAL_STDLIB_NEVER)
    answer = probe(code, "local", tmp_path)
    assert answer["new"] == []
    importing = {}
    for module in answer["ours"]:
        base = ROOT / "functions" / function / "index.py" if module == "index" else ROOT / module.replace(".", "/")
        path = base if base.suffix == ".py" else (base / "__init__.py" if base.is_dir() else base.with_suffix(".py"))
        found = module_level_imports(path.read_text()) & set(LOCAL_STDLIB_NEVER)
        if found:
            importing[module] = sorted(found)
    assert importing == {}


# Nor does a start compile a regex of its own (docs/performance.md, "Phase 7": 50-300 µs each on Python 3.10): the
# checks every start makes (the vendor endpoint's region, URLs, the webhook secret's base64) use string methods, and
# the regexes of other paths compile at their first use. The standard library's own (the floor's modules', logging's
# and tokenize's, which it loads) are compiled before the start here.
REGEX_PROBE = """\
import json, sys
import hashlib, hmac, http.client, ipaddress, logging, sqlite3
import sre_compile
compiled = []
_compile = sre_compile.compile
def recording_compile(pattern, flags=0):
    compiled.append(str(pattern)[:60])
    return _compile(pattern, flags)
sre_compile.compile = recording_compile
sys.path[:0] = [{fn_dir!r}]
import index
index.initialize(None)
sre_compile.compile = _compile
print(json.dumps(compiled))
"""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_local_cold_start_compiles_no_regex(function: str, tmp_path: Path) -> None:
    code = REGEX_PROBE.format(fn_dir=str(ROOT / "functions" / function))
    if sys.version_info >= (3, 11):  # the compiler is re._compiler there (sre_compile only warns and forwards to it)
        code = code.replace("import sre_compile", "import re._compiler as sre_compile")
    assert probe(code, "local", tmp_path) == []


# ``compile()`` (not ``eval``/``exec`` of a string) first initialises the AST types: 1.3-2 ms of a cold start on
# Python 3.10. typing calls it for every string it turns into a ForwardRef: a NamedTuple field's annotation under
# ``from __future__ import annotations``, a TypeVar constraint written as a string. Compiling a module's source (no
# bytecode cached yet) is the import system's, not ours: calls for a ``.py`` file are left out.
COMPILE_PROBE = """\
import builtins, json, sys
sys.path[:0] = [{fn_dir!r}]
calls = []
_compile = builtins.compile
def counting_compile(source, filename, *args, **kwargs):
    if not str(filename).endswith(".py"):
        calls.append(str(source)[:60])
    return _compile(source, filename, *args, **kwargs)
builtins.compile = counting_compile
import index
index.initialize(None)
builtins.compile = _compile
print(json.dumps(calls))
"""


@pytest.mark.parametrize("backend", ["local", "aliyun"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_cold_start_calls_compile_nowhere(function: str, backend: str, tmp_path: Path) -> None:
    assert probe(COMPILE_PROBE.format(fn_dir=str(ROOT / "functions" / function)), backend, tmp_path) == []


# A first request must not pay what the cold start saved. Each function handles, in a fresh process of its own after
# ``initialize``, the requests of one verification as the warm benchmark drives them (tools/bench/warm.py): the
# initializer creates it, the sandbox's callback reaches the result fetcher, the notifier delivers the notify message,
# the sweeper runs its timer. The events are built here (the devstack's builders import typing themselves).
REQUEST_PROBE = """\
import json, sys
sys.path[:0] = [{fn_dir!r}]
import index
class Context:
    request_id = "import-budget"
index.initialize(None)
typing_after = ["initialize"] if "typing" in sys.modules else []
responses = []
for number, event in enumerate(json.loads({events!r}), 1):
    responses.append(index.handler(json.dumps(event).encode(), Context()))
    if "typing" in sys.modules and not typing_after:
        typing_after.append(f"request {{number}}")
print(json.dumps({{"responses": responses, "typing_after": typing_after}}))
"""


def handle(function: str, events: list[Any], env: dict[str, str]) -> tuple[list[Any], list[str]]:
    """``function``'s responses to ``events``, and when typing was first loaded (``[]``: never)."""
    code = REQUEST_PROBE.format(fn_dir=str(ROOT / "functions" / function), events=json.dumps(events))
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    return answer["responses"], answer["typing_after"]


@pytest.mark.slow
def test_first_requests_of_every_function_import_no_typing(tmp_path: Path) -> None:
    capture, receiver = Recorder(), Recorder()
    try:
        with sandbox(image_bytes=1024) as sandbox_url:
            env = function_env(child_env(tmp_path / "pycache"), tmp_path / "data", sandbox_url, capture.url,
                               [receiver.url])
            token = issue_token("import-budget-user", env["KYC_JWT_SECRET"])
            body = json.dumps({"docType": "01000000", "metaInfo": '{"apdidToken":"x","appName":"web"}'}).encode()
            create = make_http_event("POST", "/verifications", [("Authorization", f"Bearer {token}"),
                                                                ("Content-Type", "application/json")], body)
            (created,), typing_after = handle("initializer", [create], env)
            assert (created["statusCode"], typing_after) == (201, [])

            complete(sandbox_url, json.loads(created["body"])["transactionId"])
            callback = make_http_event("GET", capture.wait_targets(1)[0], [], b"")
            (fetched,), typing_after = handle("result_fetcher", [callback], env)
            assert (fetched["statusCode"], typing_after) == (200, [])

            notify = open_queue(StorageSettings.from_env(env), "notify")
            messages = notify.receive(max_messages=10, visibility_timeout=3600)  # type: ignore[attr-defined]
            _, typing_after = handle("notifier", [cloud_events("kyc-notify", messages)], env)
            assert (receiver.posts, typing_after) == (1, [])

            timer = json.loads((ROOT / "tests" / "events" / "timer.json").read_text())
            _, typing_after = handle("sweeper", [timer], env)
            assert typing_after == []
    finally:
        capture.shutdown()
        receiver.shutdown()


# What the two tests above cannot drive (error and admin paths, the aliyun adapters' first calls): no module of the
# functions' code imports typing outside ``if TYPE_CHECKING:``, but the storage Protocols, which only the type checker,
# the tests and the tools import (docs/performance.md, "No typing at run time").
TYPING_AT_RUN_TIME_ALLOWED = {"shared/storage/protocols.py"}


def typing_imports_at_run_time(source: str) -> list[int]:
    """Lines of ``source`` importing typing anywhere but under ``if TYPE_CHECKING:``."""
    found: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "typing" for a in node.names):
            found.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "typing":
            found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def test_functions_code_imports_typing_only_for_the_type_checker() -> None:
    modules = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    offending = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if str(path.relative_to(ROOT)) not in TYPING_AT_RUN_TIME_ALLOWED
        and (lines := typing_imports_at_run_time(path.read_text(encoding="utf-8")))
    }
    assert offending == {}
