"""Builds build/<function>/ for every function folder and checks each handler imports. Run it via ./scripts/package.

Layout of one build folder (what FC 3.0 unpacks to /code, `handler: index.handler`):

    index.py          functions/<f>/index.py (plus any other modules of that function folder)
    shared/           the project's shared package
    <deps>/           requirements.txt installed for the target runtime (wheels only)
    __pycache__/...   bytecode for the target Python, when an interpreter of that version is available

Bytecode: FC's /code is read-only, so without shipped .pyc every cold start compiles every module it imports
(about twice the cached import time on the dev machine). When an interpreter of the target version is found
(``KYC_PACKAGE_COMPILE_PYTHON``, ``python3.X`` on PATH, or this one when it matches), the build is compiled with
``--invalidation-mode unchecked-hash``: the .pyc are used as they are, whatever the mtimes in the deployed zip.
Otherwise the build ships sources only and says so.

Never packaged: tools/, tests/, bytecode of other Python versions, pip's bookkeeping files,
executables in bin/.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = ("tools", "sandbox", "devstack", "ops", "tests")
# Inside a dist-info folder only these are kept: METADATA (importlib.metadata.version() at import time),
# the module map and the licences. RECORD, INSTALLER, REQUESTED, direct_url.json, WHEEL are pip's bookkeeping.
DIST_INFO_KEEP = {"METADATA", "top_level.txt", "entry_points.txt"}
PIP_NOISE = "is neither a file nor a directory"


class PackageError(Exception):
    pass


def log(message: str) -> None:
    print(f"package: {message}", flush=True)


def local_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def local_matches_platform(target_platform: str) -> bool:
    """Wheels for `target_platform` load here only on x86_64 glibc Linux for manylinux x86_64 targets."""
    machine = platform.machine().lower()
    if sys.platform != "linux" or not platform.libc_ver()[0].startswith("glibc"):
        return False
    return target_platform.endswith("_x86_64") and machine in {"x86_64", "amd64"}


def requirements_key(python_version: str, target_platform: str | None) -> str:
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()[:12]
    return f"py{python_version}-{target_platform or 'local'}-{digest}"


def pip_install(target: Path, python_version: str, target_platform: str | None, installer: str) -> None:
    """``installer`` is the interpreter whose pip runs. Only an interpreter of the target version gets environment
    markers right: pip evaluates ``python_version < "3.11"`` (aiohttp's async_timeout, ...) against the interpreter
    it runs in, whatever ``--python-version`` says."""
    cmd = [installer, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--root-user-action=ignore",
           "--target", str(target), "--only-binary=:all:"]
    if target_platform is not None:
        cmd += ["--platform", target_platform, "--implementation", "cp", "--python-version", python_version]
    cmd += ["-r", str(ROOT / "requirements.txt")]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip() and PIP_NOISE not in line:
            print(line, file=sys.stderr)
    if result.returncode != 0:
        raise PackageError(f"pip could not install requirements.txt for Python {python_version} "
                           f"({target_platform or 'local platform'})")


def top_level_modules(deps: Path) -> dict[str, list[str]]:
    """Distribution name (normalised) -> its importable top-level names, read from RECORD before it is dropped."""
    result: dict[str, list[str]] = {}
    for dist_info in deps.glob("*.dist-info"):
        name = re.sub(r"[-_.]+", "-", dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0]).lower()
        tops: set[str] = set()
        record = dist_info / "RECORD"
        lines = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
        for line in lines:
            path = line.split(",", 1)[0]
            first = path.split("/", 1)[0]
            skip = first.startswith("..") or first in {"bin", "__pycache__"}
            if skip or first.endswith((".dist-info", ".data", ".libs")):
                continue
            if "/" in path:
                module = first  # a package folder
            elif first.endswith((".py", ".so")):
                module = first.split(".", 1)[0]  # a single-file module or extension
            else:
                continue
            if module.isidentifier():
                tops.add(module)
        result[name] = sorted(tops)
    return result


def slim(deps: Path) -> None:
    """Drop what the runtime never reads: bytecode, pip bookkeeping, console scripts, packages' own test suites."""
    for path in sorted(deps.rglob("__pycache__"), reverse=True):
        shutil.rmtree(path, ignore_errors=True)
    for path in deps.rglob("*.py[co]"):
        path.unlink()
    # Native libraries for other operating systems (some wheels bundle them all); FC runs Linux.
    for pattern in ("*-darwin.so", "*.dylib", "*.pyd", "*.dll", "*.exe"):
        for path in deps.rglob(pattern):
            path.unlink()
    shutil.rmtree(deps / "bin", ignore_errors=True)
    for name in DEV_ONLY:  # a few sloppy wheels install a top-level tests/ package
        shutil.rmtree(deps / name, ignore_errors=True)
    for tests in sorted(deps.glob("*/**/tests"), reverse=True):
        if tests.is_dir():
            shutil.rmtree(tests, ignore_errors=True)
    for dist_info in deps.glob("*.dist-info"):
        for item in dist_info.iterdir():
            if item.is_dir():
                if item.name != "licenses":
                    shutil.rmtree(item)
            elif item.name not in DIST_INFO_KEEP and not item.name.upper().startswith(("LICENSE", "COPYING", "NOTICE")):
                item.unlink()


def dependency_set(
    cache: Path, python_version: str, target_platform: str | None, installer: str = sys.executable
) -> tuple[Path, dict[str, list[str]]]:
    """Installs requirements.txt once per (python, platform, requirements, installer) into the cache.

    Returns the folder and the distribution -> top-level modules map.
    """
    key = requirements_key(python_version, target_platform) + ("" if installer == sys.executable else "-native")
    deps = cache / key
    modules_file = cache / f"{key}.modules"
    if deps.is_dir() and modules_file.exists():
        log(f"dependencies for Python {python_version} ({target_platform or 'local'}) from cache {deps}")
    else:
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
        log(f"installing requirements.txt for Python {python_version} ({target_platform or 'local platform'})")
        try:
            pip_install(staging, python_version, target_platform, installer)
            modules = top_level_modules(staging)
            slim(staging)
            shutil.rmtree(deps, ignore_errors=True)
            staging.rename(deps)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        modules_file.write_text(
            "\n".join(f"{name} {' '.join(tops)}" for name, tops in sorted(modules.items())) + "\n", encoding="utf-8"
        )
    modules = {}
    for line in modules_file.read_text(encoding="utf-8").splitlines():
        name, *tops = line.split()
        modules[name] = tops
    return deps, modules


def required_modules(modules: dict[str, list[str]]) -> list[str]:
    """Top-level modules of the distributions named in requirements.txt (not their transitive dependencies)."""
    wanted: list[str] = []
    for raw in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]).lower()
        tops = modules.get(name)
        if not tops:
            raise PackageError(f"requirement {name} installed no importable module")
        wanted.extend(tops)
    return wanted


def copy_tree(src: Path, dst: Path) -> None:
    """Copies the dependency set; hard links when possible (same file system), plain copies otherwise."""
    def link_or_copy(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link_or_copy, dirs_exist_ok=True)


def function_dirs(functions_root: Path) -> list[Path]:
    found = []
    for path in sorted(functions_root.iterdir()):
        if not path.is_dir() or path.name.startswith((".", "_")):
            continue
        if not (path / "index.py").is_file():
            raise PackageError(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} has no index.py")
        found.append(path)
    if not found:
        raise PackageError(f"no function folders in {functions_root}")
    return found


def assemble(function_dir: Path, deps: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    copy_tree(deps, dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "test_*.py", "*_test.py", "conftest.py")
    shutil.copytree(ROOT / "shared", dest / "shared", ignore=ignore)
    for item in function_dir.iterdir():
        if item.name in {"__pycache__", *DEV_ONLY} or item.name.startswith("test_") or item.suffix in {".pyc", ".pyo"}:
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=ignore)
        else:
            shutil.copy2(item, dest / item.name)
    leaked = [name for name in DEV_ONLY if (dest / name).exists()]
    if leaked:
        raise PackageError(f"{dest.name}: dev-only packages in the build: {', '.join(leaked)}")


CHECK = r"""
import importlib, sys
build = sys.argv[1]
sys.path.insert(0, build)
for name in sys.argv[2:]:
    module = importlib.import_module(name)
    origin = getattr(module, "__file__", None) or ""
    if not origin.startswith(build):
        raise SystemExit(f"{name} was imported from {origin or 'nowhere'}, not from the build folder")
import index
if not index.__file__.startswith(build):
    raise SystemExit("index was not imported from the build folder")
if not callable(getattr(index, "handler", None)):
    raise SystemExit("index.handler is missing or not callable")
if hasattr(index, "initialize") and not callable(index.initialize):
    raise SystemExit("index.initialize is not callable")
"""


def check_import(build: Path, modules: list[str], python: str = sys.executable) -> None:
    """Clean interpreter: -I (no env vars, no user site), -S (no site-packages), -B (no bytecode), empty env."""
    cmd = [python, "-I", "-S", "-B", "-c", CHECK, str(build), *modules]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    result = subprocess.run(cmd, cwd=build, env=env, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise PackageError(f"{build.name}: handler does not import from its build folder: "
                           f"{detail[-1] if detail else 'exit ' + str(result.returncode)}")


def target_compiler(python_version: str) -> str | None:
    """An interpreter of the target version to compile bytecode with, or None."""
    explicit = os.environ.get("KYC_PACKAGE_COMPILE_PYTHON", "").strip()
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{python_version}.*/bin/python{python_version}"), reverse=True)
    candidates = [explicit] if explicit else [
        sys.executable if local_python() == python_version else "",
        shutil.which(f"python{python_version}") or "",
        *(str(p) for p in pyenv),  # pyenv keeps unselected versions off PATH (its shim refuses them)
    ]
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for candidate in filter(None, candidates):
        result = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, timeout=30, check=False)
        if result.returncode == 0 and result.stdout.strip() == python_version:
            return candidate
        if explicit:
            raise PackageError(f"KYC_PACKAGE_COMPILE_PYTHON is not a Python {python_version} interpreter")
    return None


def compile_bytecode(build: Path, compiler: str) -> None:
    """Unchecked hash-based .pyc (PEP 552): valid however the deployment tool sets file mtimes."""
    cmd = [compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(build)]
    # Exit status 1 means some file did not compile (dependencies ship a few Python 2-only helpers); what matters
    # is that our own code compiled, which is checked here.
    subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    tag = "cpython-" + subprocess.run([compiler, "-c", "import sys; print(sys.implementation.cache_tag)"],
                                      capture_output=True, text=True, check=True).stdout.strip().split("-")[-1]
    for source in [build / "index.py", *(build / "shared").rglob("*.py")]:
        if not (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").is_file():
            raise PackageError(f"{build.name}: {source.relative_to(build)} did not compile")


def check_abi(build: Path, python_version: str, target_platform: str) -> None:
    """Every CPython extension for the target's Linux architecture must be built for the target version."""
    arch = target_platform.split("_", 1)[1] if "_" in target_platform else target_platform
    want = python_version.replace(".", "")
    pattern = re.compile(r"\.cpython-(\d+)[a-z]*-" + re.escape(arch) + r"-linux-gnu\.so$")
    wrong = []
    for ext in build.rglob("*.so"):
        match = pattern.search(ext.name)
        if match and match.group(1) != want:
            wrong.append(str(ext.relative_to(build)))
    if wrong:
        raise PackageError(f"{build.name}: extensions not built for Python {python_version}: {', '.join(wrong[:5])}")


def main() -> int:
    target_python = os.environ.get("KYC_PACKAGE_PYTHON", "3.10").strip()
    target_platform = os.environ.get("KYC_PACKAGE_PLATFORM", "manylinux2014_x86_64").strip()
    if not re.fullmatch(r"3\.\d+", target_python):
        raise PackageError("KYC_PACKAGE_PYTHON must look like 3.10")
    build_root = Path(os.environ.get("KYC_BUILD_DIR") or ROOT / "build").resolve()
    cache = Path(os.environ.get("KYC_PACKAGE_CACHE") or build_root / ".deps").resolve()
    functions_root = Path(os.environ.get("KYC_FUNCTIONS_DIR") or ROOT / "functions").resolve()

    functions = function_dirs(functions_root)
    build_root.mkdir(parents=True, exist_ok=True)
    compiler = target_compiler(target_python)
    if compiler is None:
        log(f"no Python {target_python} interpreter here: shipping sources only, so FC compiles them at every cold "
            f"start, and dependencies that only some Python versions need are chosen for Python {local_python()} "
            f"(set KYC_PACKAGE_COMPILE_PYTHON or put python{target_python} on PATH)")
    deps, modules = dependency_set(cache, target_python, target_platform, compiler or sys.executable)
    runtime_modules = required_modules(modules)
    for function_dir in functions:
        dest = build_root / function_dir.name
        assemble(function_dir, deps, dest)
        check_abi(dest, target_python, target_platform)
        if compiler is not None:
            compile_bytecode(dest, compiler)

    same_runtime = target_python == local_python() and local_matches_platform(target_platform)
    if same_runtime or (compiler is not None and local_matches_platform(target_platform)):
        python = sys.executable if same_runtime else str(compiler)
        log(f"import check: the builds themselves, with Python {target_python} ({python})")
        for function_dir in functions:
            check_import(build_root / function_dir.name, runtime_modules, python)
    else:
        log(f"import check: local Python {local_python()} cannot load Python {target_python} wheels; "
            f"checking a shadow build with local-interpreter dependencies")
        # Same platform tag when this machine can load it: shares the cache with a local-version build.
        local_platform = target_platform if local_matches_platform(target_platform) else None
        local_deps, local_modules = dependency_set(cache, local_python(), local_platform)
        with tempfile.TemporaryDirectory(prefix=".check-", dir=build_root) as shadow_root:
            for function_dir in functions:
                shadow = Path(shadow_root) / function_dir.name
                assemble(function_dir, local_deps, shadow)
                check_import(shadow, required_modules(local_modules))

    for function_dir in functions:
        size = subprocess.run(["du", "-sh", str(build_root / function_dir.name)], capture_output=True, text=True,
                              check=True).stdout.split()[0]
        log(f"{function_dir.name}: {size}  ({build_root / function_dir.name}) handler imports OK"
            + (", bytecode included" if compiler else ""))
    log(f"built {len(functions)} functions for Python {target_python} / {target_platform}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PackageError as error:
        print(f"package: error: {error}", file=sys.stderr)
        sys.exit(1)
