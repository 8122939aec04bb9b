"""./scripts/package: one deployable folder per function whose handler imports with nothing but that folder.

The main build targets the local Python version (KYC_PACKAGE_PYTHON) so the built folders themselves can be
imported here. Set KYC_BUILD_DIR to keep the result somewhere (it is a temporary folder otherwise).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = ("tools", "sandbox", "devstack", "ops", "tests")
LOCAL_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"

pytestmark = pytest.mark.slow

# sys.path = the build folder + the standard library: -I ignores PYTHON* variables and the user site, -S skips
# site-packages, -B writes no bytecode into the build, and the environment is empty.
CLEAN_IMPORT = """
import sys
build = sys.argv[1]
sys.path.insert(0, build)
import index
assert index.__file__.startswith(build), index.__file__
assert callable(index.handler)
for name in ("orjson", "tablestore", "alibabacloud_oss_v2", "shared"):
    module = __import__(name)
    assert module.__file__.startswith(build), (name, module.__file__)
print("ok")
"""


def function_folders() -> list[str]:
    return sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "index.py").is_file())


def run_package(build: Path, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "KYC_BUILD_DIR": str(build), "KYC_PACKAGE_CACHE": str(cache), **env}
    return subprocess.run([str(ROOT / "scripts" / "package")], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deps-cache")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    target = Path(os.environ["KYC_BUILD_DIR"]) if os.environ.get("KYC_BUILD_DIR") else tmp_path_factory.mktemp("build")
    return target, run_package(target, cache, KYC_PACKAGE_PYTHON=LOCAL_PYTHON)


@pytest.fixture(scope="module")
def build_dir(build: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    target, result = build
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def fake_functions(tmp_path: Path, **sources: str) -> Path:
    root = tmp_path / "functions"
    for name, source in sources.items():
        (root / name).mkdir(parents=True)
        (root / name / "index.py").write_text(source, encoding="utf-8")
    return root


def test_package_succeeds_and_prints_each_functions_size(build: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = build
    assert result.returncode == 0, result.stdout + result.stderr
    for function in function_folders():
        assert f"package: {function}: " in result.stdout
        assert "handler imports OK" in result.stdout


def test_build_has_one_folder_per_function(build_dir: Path) -> None:
    built = sorted(p.name for p in build_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert built == function_folders()


@pytest.mark.parametrize("function", function_folders())
def test_handler_imports_in_a_clean_interpreter_from_the_build_only(build_dir: Path, function: str) -> None:
    folder = build_dir / function
    cmd = [sys.executable, "-I", "-S", "-B", "-c", CLEAN_IMPORT, str(folder)]
    result = subprocess.run(cmd, cwd=folder, env={}, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("function", function_folders())
def test_dev_only_packages_are_not_packaged(build_dir: Path, function: str) -> None:
    folder = build_dir / function
    assert [name for name in DEV_ONLY if (folder / name).exists()] == []
    assert not list((folder / "shared").rglob("test_*.py"))


@pytest.mark.parametrize("function", function_folders())
def test_bytecode_for_the_target_python_is_packaged_and_never_revalidated(build_dir: Path, function: str) -> None:
    folder = build_dir / function
    tag = sys.implementation.cache_tag  # the build targets this interpreter's version here
    for source in [folder / "index.py", folder / "shared" / "fetcher.py", folder / "orjson" / "__init__.py"]:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert pyc.is_file(), pyc
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01  # PEP 552: hash-based, check_source off; FC's read-only /code needs no recompiling
    assert not [p for p in folder.rglob("*.pyc") if f".{tag}." not in p.name]


@pytest.mark.parametrize("function", function_folders())
def test_pip_bookkeeping_is_not_packaged(build_dir: Path, function: str) -> None:
    folder = build_dir / function
    leftovers = [p.name for p in folder.glob("*.dist-info/*") if p.name in {"RECORD", "INSTALLER", "direct_url.json"}]
    assert leftovers == []
    assert not (folder / "bin").exists()
    assert list(folder.glob("orjson-*.dist-info/METADATA")), "METADATA is kept for importlib.metadata"


@pytest.mark.parametrize("function", function_folders())
def test_function_code_and_shared_package_are_copied_as_they_are(build_dir: Path, function: str) -> None:
    folder = build_dir / function
    assert (folder / "index.py").read_bytes() == (ROOT / "functions" / function / "index.py").read_bytes()
    source = {p.relative_to(ROOT / "shared") for p in (ROOT / "shared").rglob("*.py") if "__pycache__" not in p.parts}
    built = {p.relative_to(folder / "shared") for p in (folder / "shared").rglob("*.py")}
    assert built == source


def test_packaging_fails_when_a_handler_cannot_import(tmp_path: Path, cache: Path) -> None:
    source = "import module_that_does_not_exist\n\ndef handler(e, c):\n    return 1\n"
    functions = fake_functions(tmp_path, broken=source)
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=LOCAL_PYTHON,
                         KYC_FUNCTIONS_DIR=str(functions))
    assert result.returncode != 0
    assert "broken: handler does not import" in result.stderr
    assert "module_that_does_not_exist" in result.stderr


def test_packaging_fails_when_index_has_no_handler(tmp_path: Path, cache: Path) -> None:
    functions = fake_functions(tmp_path, nohandler="def main(e, c):\n    return 1\n")
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=LOCAL_PYTHON,
                         KYC_FUNCTIONS_DIR=str(functions))
    assert result.returncode != 0
    assert "index.handler is missing" in result.stderr


def test_without_a_python_310_the_default_build_is_checked_by_a_shadow_build(tmp_path: Path, cache: Path) -> None:
    functions = fake_functions(tmp_path, hello="def handler(e, c):\n    return 1\n")
    env = {k: v for k, v in os.environ.items() if k not in {"KYC_PACKAGE_PYTHON", "KYC_PACKAGE_COMPILE_PYTHON"}}
    env["HOME"] = str(tmp_path)  # hides pyenv's 3.10; the pyenv shim on PATH refuses an unselected version
    full_env = {**env, "KYC_BUILD_DIR": str(tmp_path / "build"), "KYC_PACKAGE_CACHE": str(cache),
                "KYC_FUNCTIONS_DIR": str(functions)}
    result = subprocess.run([str(ROOT / "scripts" / "package")], cwd=ROOT, env=full_env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    extensions = [p.name for p in (tmp_path / "build" / "hello" / "orjson").glob("*.so")]
    assert extensions and all("cpython-310-x86_64-linux-gnu" in name for name in extensions), extensions
    if LOCAL_PYTHON != "3.10":
        assert "shadow build" in result.stdout
        assert "shipping sources only" in result.stdout


# --- the runtime FC actually runs: Python 3.10 ------------------------------------------------------------------

FC_PYTHON = "3.10"
RUN_ON_FC_PYTHON = r"""
import json, sys
build = sys.argv[1]
sys.path.insert(0, build)
import index
index.initialize(None)
event = json.loads(sys.argv[2])
answer = index.handler(json.dumps(event).encode(), None)
print(json.dumps({"version": "%d.%d" % sys.version_info[:2], "answer": answer}))
"""
HTTP_EVENTS = {
    "initializer": ("POST", "/verifications", {}),  # no token: 401 from the real handler
    "result_fetcher": ("GET", "/callback", {"merchantBizId": "0" * 32, "callbackToken": "x"}),  # unknown: 404
}


def fc_python() -> str:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from _package import target_compiler
    finally:
        sys.path.pop(0)
    python = target_compiler(FC_PYTHON)
    if python is None:
        # Nothing can install a CPython here (no python3.10 package in Debian bookworm, none on PyPI): this check
        # runs where the machine image carries one (pyenv on the dev/CI image) and says so where it does not.
        pytest.skip(f"no Python {FC_PYTHON} interpreter (pyenv, python3.10 on PATH or KYC_PACKAGE_COMPILE_PYTHON)")
    return python


@pytest.fixture(scope="module")
def fc_build(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    fc_python()  # skip before a 3.10 build that nothing could run
    target = tmp_path_factory.mktemp("build-fc")
    result = run_package(target, cache, KYC_PACKAGE_PYTHON=FC_PYTHON)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"with Python {FC_PYTHON}" in result.stdout  # the real folders were imported by the runtime's Python
    return target


def _event(function: str) -> object:
    if function in HTTP_EVENTS:
        method, path, query = HTTP_EVENTS[function]
        context = {"requestId": "r", "http": {"method": method, "path": path}}
        return {"version": "v1", "rawPath": path, "headers": {}, "queryParameters": query, "body": "",
                "isBase64Encoded": False, "requestContext": context}
    if function == "notifier":
        return []  # an empty MNS batch
    return {"triggerTime": "2026-11-22T00:00:00Z", "triggerName": "sweep", "payload": ""}


@pytest.mark.parametrize("function", function_folders())
def test_each_packaged_handler_runs_on_fcs_python_with_only_its_folder(
    fc_build: Path, function: str, tmp_path: Path
) -> None:
    import json

    env = {
        "LANG": "C.UTF-8", "KYC_DATA_DIR": str(tmp_path), "KYC_PUBLIC_URL": "http://127.0.0.1:9",
        "KYC_JWT_SECRET": "j" * 40, "KYC_USER_ID_PEPPER": "p" * 20, "KYC_RETURN_URL_ALLOWLIST": "http://127.0.0.1:9/",
        "CLOUDAUTH_ENDPOINT": "http://127.0.0.1:9", "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret",
    }  # fmt: skip
    folder = fc_build / function
    cmd = [fc_python(), "-I", "-S", "-c", RUN_ON_FC_PYTHON, str(folder), json.dumps(_event(function))]
    result = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["version"] == FC_PYTHON
    expected_status = {"initializer": 401, "result_fetcher": 404}.get(function)
    if expected_status is not None:
        assert out["answer"]["statusCode"] == expected_status
    else:
        assert isinstance(out["answer"], dict)
