"""./scripts/package: one folder per function holding only what its handler imports, verified on the target Python.

The build targets FC's Python 3.10 when this machine has one (pyenv, python3.10 on PATH or
KYC_PACKAGE_COMPILE_PYTHON): then the trace, the verification and the checks below all run on 3.10. Without one the
same build targets this interpreter's version, and the tests that are about 3.10 itself skip, saying why. Set
KYC_BUILD_DIR to keep the build somewhere (it is a temporary folder otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = ("tools", "sandbox", "devstack", "ops", "tests")
LOCAL_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
FC_PYTHON = "3.10"
MAX_UNZIPPED = 20_000_000  # bytes: the target, <= 20 MB unpacked per function

pytestmark = pytest.mark.slow


def _package_module() -> Any:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import _package
    finally:
        sys.path.pop(0)
    return _package


def fc_python() -> str | None:
    python: str | None = _package_module().target_compiler(FC_PYTHON)
    return python


# Nothing can install a CPython here (no python3.10 package in Debian bookworm, none on PyPI): 3.10 runs where the
# machine image carries one (pyenv on the dev/CI image) and the 3.10-only checks say so where it does not.
TARGET_PYTHON = FC_PYTHON if fc_python() else LOCAL_PYTHON
NO_FC_PYTHON = f"no Python {FC_PYTHON} interpreter (pyenv, python{FC_PYTHON} on PATH or KYC_PACKAGE_COMPILE_PYTHON)"


def function_folders() -> list[str]:
    return sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "index.py").is_file())


# What ./scripts/package runs once scripts/_venv.sh has checked the venv (this session already runs in it).
PACKAGE = [sys.executable, str(ROOT / "scripts" / "_package.py")]


def run_package(build: Path, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "KYC_BUILD_DIR": str(build), "KYC_PACKAGE_CACHE": str(cache), **env}
    return subprocess.run(PACKAGE, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deps-cache")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    target = Path(os.environ["KYC_BUILD_DIR"]) if os.environ.get("KYC_BUILD_DIR") else tmp_path_factory.mktemp("build")
    return target, run_package(target, cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON)


@pytest.fixture(scope="module")
def build_dir(build: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    target, result = build
    assert result.returncode == 0, result.stdout + result.stderr
    return target


@pytest.fixture(scope="module")
def report(build_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((build_dir / "package-report.json").read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def target_python() -> str:
    python = fc_python() if TARGET_PYTHON == FC_PYTHON else sys.executable
    assert python is not None
    return python


def fake_functions(tmp_path: Path, **sources: str) -> Path:
    root = tmp_path / "functions"
    for name, source in sources.items():
        (root / name).mkdir(parents=True)
        (root / name / "index.py").write_text(source, encoding="utf-8")
    return root


# --- the real build -------------------------------------------------------------------------------------------


def test_package_succeeds_and_prints_each_functions_sizes(build: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = build
    assert result.returncode == 0, result.stdout + result.stderr
    for function in function_folders():
        assert f"package: {function}: " in result.stdout
        assert "unzipped" in result.stdout and "zipped" in result.stdout
    assert result.stdout.count("trimmed build verified") == len(function_folders())


def test_build_has_one_folder_per_function(build_dir: Path) -> None:
    built = sorted(p.name for p in build_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert built == function_folders()


@pytest.mark.parametrize("function", function_folders())
def test_each_function_is_at_most_20_mb_unzipped(build_dir: Path, report: dict[str, Any], function: str) -> None:
    size = sum(p.stat().st_size for p in (build_dir / function).rglob("*") if p.is_file())
    entry = next(e for e in report["functions"] if e["function"] == function)
    assert entry["unzipped"] == size
    assert size <= MAX_UNZIPPED, f"{function}: {size / 1e6:.1f} MB"
    assert 0 < entry["zipped"] < size


def test_the_report_file_says_what_each_shipped_distribution_is_for(build_dir: Path, report: dict[str, Any]) -> None:
    text = (build_dir / "package-report.txt").read_text(encoding="utf-8")
    for entry in report["functions"]:
        assert f"{entry['function']}: " in text
        for dist in entry["distributions"]:
            assert dist["for"].startswith(("requirements.txt; imported by ", "needed by ", "allow-list: ")), dist
            assert "imported by ?" not in dist["for"], dist
            assert f"{dist['name']} {dist['version']}" in text


def test_distributions_no_path_imports_are_not_shipped(build_dir: Path, report: dict[str, Any]) -> None:
    for function in function_folders():
        folder = build_dir / function
        for never in ("numpy", "numpy.libs", "aiohttp", "Crypto", "future", "past", "flatbuffers", "crc32c"):
            assert not (folder / never).exists(), f"{function} ships {never}"
    initializer = next(e for e in report["functions"] if e["function"] == "initializer")
    assert "alibabacloud-oss-v2" in initializer["notShipped"]  # it never touches objects
    assert not (build_dir / "initializer" / "alibabacloud_oss_v2").exists()


def test_what_the_aliyun_backend_imports_is_shipped(build_dir: Path) -> None:
    for function in function_folders():
        assert (build_dir / function / "orjson").is_dir()
        assert (build_dir / function / "tablestore" / "client.py").is_file()
    for function in ("result_fetcher", "notifier", "sweeper"):
        assert (build_dir / function / "alibabacloud_oss_v2" / "client.py").is_file()


def test_every_unreachable_import_the_diet_explains_is_still_there(report: dict[str, Any]) -> None:
    """UNREACHABLE (tools/package/diet.py) explains imports of distributions that are not shipped; an explanation
    no shipped file needs any more is stale."""
    from tools.package.diet import UNREACHABLE

    explained = {name for entry in report["functions"] for name in entry["unreachable"]}
    assert explained == set(UNREACHABLE)


def test_tablestore_s_native_codec_is_left_out(build_dir: Path, report: dict[str, Any]) -> None:
    """On every target (tools/package/diet.py, LEFT_OUT): on 3.10 it cannot load, on 3.12 it is 13.7 MB."""
    for entry in report["functions"]:
        assert entry["droppedFiles"]["tablestore/ots_sdk/ots_sdk.so"].startswith("left out: ")
        assert not (build_dir / entry["function"] / "tablestore" / "ots_sdk" / "ots_sdk.so").exists()
        assert (build_dir / entry["function"] / "tablestore" / "ots_sdk" / "__init__.py").is_file()


@pytest.mark.parametrize("function", function_folders())
def test_shipped_distributions_keep_their_metadata_and_licences(build_dir: Path, function: str, cache: Path) -> None:
    inventory_file = next(p for p in cache.glob(f"py{TARGET_PYTHON}-*.json"))
    inventory = json.loads(inventory_file.read_text(encoding="utf-8"))
    folder = build_dir / function
    for name, dist in inventory.items():
        info = [f for f in dist["files"] if ".dist-info/" in f]
        shipped = any((folder / f).exists() for f in dist["files"] if ".dist-info/" not in f)
        if shipped:
            assert all((folder / f).is_file() for f in info), (name, info)  # METADATA and the licence files
            assert any(f.endswith("/METADATA") for f in info), name


@pytest.mark.parametrize("function", function_folders())
def test_dev_only_packages_are_not_packaged(build_dir: Path, function: str) -> None:
    folder = build_dir / function
    assert [name for name in DEV_ONLY if (folder / name).exists()] == []
    assert not list((folder / "shared").rglob("test_*.py"))


@pytest.mark.parametrize("function", function_folders())
def test_bytecode_for_the_target_python_is_packaged_and_never_revalidated(
    build_dir: Path, function: str, target_python: str
) -> None:
    folder = build_dir / function
    tag = subprocess.run([target_python, "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    for source in [folder / "index.py", folder / "shared" / "fetcher.py", folder / "orjson" / "__init__.py",
                   folder / "tablestore" / "client.py"]:
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


# --- the trimmed packages pass their packaged tests on the target Python --------------------------------------


@pytest.mark.parametrize("function", function_folders())
def test_the_trimmed_package_passes_its_scenario_on_both_backends_with_only_its_folder(
    build_dir: Path, function: str, target_python: str
) -> None:
    """Every step of the function's scenario (tools/package/exercise.py): HTTP, queue and timer events, bad input,
    vendor errors, Tablestore/OSS/MNS over the wire (aliyun) and their failures, with only the folder on sys.path."""
    from tools.package.exercise import exercise

    runs = exercise(build_dir / function, function, target_python)
    assert [r.backend for r in runs] == ["local", "aliyun"]
    for run in runs:
        assert run.import_error is None
        assert run.failures == [], run.stderr_tail
        assert len(run.steps) >= 5
        assert run.trace["python"] == TARGET_PYTHON
        assert run.trace["foreign"] == []  # every module came from the folder or the standard library
    aliyun = set(runs[1].trace["loaded"])
    assert "tablestore.client" in aliyun and "shared.storage.tablestore_store" in aliyun
    if function != "initializer":
        assert {"alibabacloud_oss_v2.client", "shared.storage.oss", "shared.storage.mns"} <= aliyun


def test_the_traced_handler_gets_the_event_as_bytes_as_on_fc(tmp_path: Path) -> None:
    """FC 3.0 hands a Python handler its event as bytes (tools/package/child.py's protocol)."""
    from tools.package.exercise import Child

    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "index.py").write_text("def handler(event, context):\n    return type(event).__name__\n")
    child = Child(sys.executable, folder, {"PATH": "/usr/bin:/bin"}, tmp_path / "stderr.log")
    try:
        assert child.call({"op": "ready"})["ok"]
        assert child.call({"op": "invoke", "event": {"k": 1}}) == {"ok": True, "answer": "bytes"}
    finally:
        child.close()


def test_the_trace_records_the_data_files_the_handler_opens(tmp_path: Path) -> None:
    """A CA bundle read at run time ships its distribution (tools/package/diet.py), so the trace must see it."""
    from tools.package.exercise import Child

    folder = tmp_path / "f"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "bundle.pem").write_text("x")
    (folder / "index.py").write_text("import os\n\nHERE = os.path.dirname(__file__)\n\ndef handler(event, context):\n"
                                     "    return open(os.path.join(HERE, 'certs', 'bundle.pem')).read()\n")
    child = Child(sys.executable, folder, {"PATH": "/usr/bin:/bin"}, tmp_path / "stderr.log")
    try:
        assert child.call({"op": "ready"})["ok"]
        assert child.call({"op": "invoke", "event": {}})["answer"] == "x"
        assert child.call({"op": "trace"})["trace"]["opened"] == ["certs/bundle.pem"]
    finally:
        child.close()


def test_the_trace_names_the_file_of_an_extension_that_failed_to_load(tmp_path: Path) -> None:
    """What lets the diet leave out an extension the target Python cannot load (tools/package/diet.py)."""
    from tools.package.exercise import Child

    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "native.so").write_bytes(b"not an ELF file")
    (folder / "index.py").write_text("try:\n    import native\nexcept ImportError:\n    native = None\n\n"
                                     "def handler(event, context):\n    return native is None\n")
    child = Child(sys.executable, folder, {"PATH": "/usr/bin:/bin"}, tmp_path / "stderr.log")
    try:
        assert child.call({"op": "ready"})["ok"]
        assert child.call({"op": "trace"})["trace"]["failed"] == {"native": "native.so"}
    finally:
        child.close()


def test_verification_fails_when_a_needed_module_is_missing(
    build_dir: Path, tmp_path: Path, target_python: str
) -> None:
    from tools.package.exercise import exercise

    package = _package_module()
    full = exercise(build_dir / "initializer", "initializer", target_python)
    broken = tmp_path / "initializer"
    shutil.copytree(build_dir / "initializer", broken)
    (broken / "six.py").unlink()  # tablestore imports six at import time
    problems = package.compare(full, exercise(broken, "initializer", target_python))
    assert any("aliyun: step" in p and "fails" in p for p in problems), problems


def test_verification_fails_when_the_sdk_silently_falls_back_for_a_missing_module(
    build_dir: Path, tmp_path: Path, target_python: str
) -> None:
    """tablestore imports its native PlainBuffer parser inside ``try/except ImportError``: without it every step
    still passes, and only the comparison of loaded modules notices."""
    from tools.package.exercise import exercise

    package = _package_module()
    full = exercise(build_dir / "initializer", "initializer", target_python)
    broken = tmp_path / "initializer"
    shutil.copytree(build_dir / "initializer", broken)
    shutil.rmtree(broken / "tablestore" / "native")
    trimmed = exercise(broken, "initializer", target_python)
    assert all(not run.failures for run in trimmed)
    problems = package.compare(full, trimmed)
    assert any("missing" in p and "tablestore.native" in p for p in problems), problems


def test_a_build_for_python_3_12_is_verified_and_within_the_budget(tmp_path: Path, cache: Path) -> None:
    """FC's python3.12 runtime (docs/deploy.md, "Python version"): the same diet, traced and verified on 3.12, where
    tablestore's 13.7 MB native codec would load (review: 20.6 and 27.4 MB before it was left out)."""
    from tools.package.interpreters import find_python

    if find_python("3.12") is None:
        pytest.skip("no Python 3.12 interpreter (pyenv, python3.12 on PATH)")
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON="3.12", KYC_PACKAGE_COMPILE_PYTHON="")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "build" / "package-report.json").read_text(encoding="utf-8"))
    sizes = {entry["function"]: entry["unzipped"] for entry in report["functions"]}
    assert sizes.keys() == set(function_folders())
    assert max(sizes.values()) <= MAX_UNZIPPED, sizes
    for entry in report["functions"]:
        assert not (tmp_path / "build" / entry["function"] / "tablestore" / "ots_sdk" / "ots_sdk.so").exists()


# --- the script: errors, exit codes, idempotence --------------------------------------------------------------


def test_packaging_fails_when_a_handler_cannot_import(tmp_path: Path, cache: Path) -> None:
    source = "import module_that_does_not_exist\n\ndef handler(e, c):\n    return 1\n"
    functions = fake_functions(tmp_path, broken=source)
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert result.returncode == 1
    assert "broken: handler does not import" in result.stderr
    assert "module_that_does_not_exist" in result.stderr


def test_packaging_fails_as_a_handler_bug_when_the_full_build_fails_its_scenario(tmp_path: Path, cache: Path) -> None:
    source = "def initialize(context):\n    raise RuntimeError('boom')\n\ndef handler(e, c):\n    return 1\n"
    functions = fake_functions(tmp_path, failing=source)
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert result.returncode == 1
    assert "failing: its scenario fails with every dependency present (a handler bug" in result.stderr
    assert "RuntimeError: boom" in result.stderr


def test_packaging_fails_when_a_handler_loads_a_module_from_outside_its_folder(tmp_path: Path, cache: Path) -> None:
    """Such a module would be missing on FC (only /code and the runtime's standard library are there)."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "stray.py").write_text("", encoding="utf-8")
    source = (f"import sys\n\nsys.path.append({str(tmp_path / 'elsewhere')!r})\nimport stray\n\n"
              "def handler(e, c):\n    return 1\n")
    functions = fake_functions(tmp_path, leaky=source)
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert result.returncode == 1
    assert "leaky: modules came from outside the folder and the standard library: ['stray']" in result.stderr


def test_packaging_fails_when_index_has_no_handler(tmp_path: Path, cache: Path) -> None:
    functions = fake_functions(tmp_path, nohandler="def main(e, c):\n    return 1\n")
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert result.returncode == 1
    assert "index.handler is missing" in result.stderr


def test_packaging_fails_when_the_trimmed_build_loads_other_modules_than_the_full_one(
    tmp_path: Path, cache: Path
) -> None:
    """A dependency probed for without being imported (``find_spec``) is not shipped, so the trimmed build takes
    another path than the traced one: the verification must fail the build, which is left unbuilt."""
    source = ("import importlib.util\n\nif importlib.util.find_spec('six') is not None:\n    import json.tool\n\n"
              "def handler(e, c):\n    return 1\n")
    functions = fake_functions(tmp_path, probe=source)
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "probe: the trimmed build does not behave like the full one" in result.stderr
    assert "json.tool" in result.stderr
    assert not (tmp_path / "build" / "probe").exists()


def test_bad_configuration_exits_2_naming_the_variable(tmp_path: Path, cache: Path) -> None:
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON="three")
    assert result.returncode == 2
    assert "KYC_PACKAGE_PYTHON" in result.stderr
    assert not (tmp_path / "build" / "initializer").exists()


def test_a_function_over_the_size_budget_exits_3(tmp_path: Path, cache: Path) -> None:
    functions = fake_functions(tmp_path, hello="import orjson\n\ndef handler(e, c):\n    return orjson.dumps(1)\n")
    result = run_package(tmp_path / "build", cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON,
                         KYC_FUNCTIONS_DIR=str(functions), KYC_PACKAGE_MAX_MB="0.01")
    assert result.returncode == 3
    assert "larger than KYC_PACKAGE_MAX_MB=0.01 MB unzipped: hello" in result.stderr


def test_a_rerun_rebuilds_the_same_folder_and_a_failed_run_leaves_it_as_it_was(tmp_path: Path, cache: Path) -> None:
    functions = fake_functions(tmp_path, hello="import orjson\n\ndef handler(e, c):\n    return orjson.dumps(1)\n")
    build = tmp_path / "build"

    def listing() -> dict[str, int]:
        return {p.relative_to(build).as_posix(): p.stat().st_size for p in (build / "hello").rglob("*") if p.is_file()}

    first = run_package(build, cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert first.returncode == 0, first.stderr
    built = listing()
    assert "hello/orjson/__init__.py" in built and "hello/tablestore/__init__.py" not in built
    second = run_package(build, cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert second.returncode == 0, second.stderr
    assert listing() == built
    (functions / "hello" / "index.py").write_text("import nowhere\n\ndef handler(e, c):\n    return 1\n")
    third = run_package(build, cache, KYC_PACKAGE_PYTHON=TARGET_PYTHON, KYC_FUNCTIONS_DIR=str(functions))
    assert third.returncode == 1
    assert listing() == built
    assert "import orjson" in (build / "hello" / "index.py").read_text(encoding="utf-8")
    assert not list(build.glob(".staging-*"))


def test_without_a_python_310_the_default_build_is_traced_on_a_shadow_build(tmp_path: Path, cache: Path) -> None:
    functions = fake_functions(tmp_path, hello="import orjson\n\ndef handler(e, c):\n    return orjson.dumps(1)\n")
    requirements = tmp_path / "requirements.txt"  # two small dependency sets to install, not two of the project's
    requirements.write_text("orjson==3.13.0\nsix==1.17.0\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"KYC_PACKAGE_PYTHON", "KYC_PACKAGE_COMPILE_PYTHON"}}
    env["HOME"] = str(tmp_path)  # hides pyenv's 3.10; the pyenv shim on PATH refuses an unselected version
    full_env = {**env, "KYC_BUILD_DIR": str(tmp_path / "build"), "KYC_PACKAGE_CACHE": str(cache),
                "KYC_FUNCTIONS_DIR": str(functions), "KYC_PACKAGE_REQUIREMENTS": str(requirements)}
    result = subprocess.run(PACKAGE, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    extensions = [p.name for p in (tmp_path / "build" / "hello" / "orjson").glob("*.so")]
    assert extensions and all("cpython-310-x86_64-linux-gnu" in name for name in extensions), extensions
    assert not (tmp_path / "build" / "hello" / "six.py").exists()  # installed, never imported
    if LOCAL_PYTHON != "3.10":
        assert "shadow build" in result.stdout
        assert "shipping sources only" in result.stdout
