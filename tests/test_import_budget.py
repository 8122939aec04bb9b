"""Import budget (modules, not milliseconds): a cold start loads only what its path needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.bench.cold import backend_env

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
# On neither backend: what dataclasses and pathlib cost at start (docs/performance.md, "What phase 3 changed").
STDLIB_NEVER = ("dataclasses", "inspect", "ast", "dis", "pathlib")

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


@pytest.mark.parametrize("backend", ["local", "aliyun"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_cold_start_imports_neither_dataclasses_nor_pathlib(function: str, backend: str, tmp_path: Path) -> None:
    assert loaded_after_initialize(function, backend, tmp_path, STDLIB_NEVER) == set()


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
