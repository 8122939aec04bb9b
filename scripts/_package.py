"""Builds build/<function>/ for every function folder, each with only what it imports. Run it via ./scripts/package.

Layout of one build folder (what FC 3.0 unpacks to /code, `handler: index.handler`):

    index.py          functions/<f>/index.py (plus any other modules of that function folder)
    shared/           the project's shared package
    <deps>/           the distributions of requirements.txt (installed for the target runtime, wheels only) that
                      this function imports on its paths, found by tracing; see tools/package/diet.py
    __pycache__/...   bytecode for the target Python, when an interpreter of that version is available

The diet, per function (tools/package/):

1. trace: the function's folder with *all* of requirements.txt runs its scenario (every path the scenario
   drives, backends ``local`` and ``aliyun``, against loopback services: the sandbox and ``tools.doubles``) on
   the target Python, with an audit hook recording every module it imports and every file it opens (exercise.py,
   child.py);
2. plan: distributions none of those runs touched are left out, as are compiled extensions that cannot load on
   the target Python at all (diet.py);
3. verify: the trimmed, compiled folder runs the same scenario on the target Python; every step must pass and the
   set of loaded modules must equal the full folder's, or the build fails and ``build/`` is left as it was.

Then the report (sizes, and what each shipped distribution is for) is printed and written to
``build/package-report.txt`` (and ``.json``).

Bytecode: FC's /code is read-only, so without shipped .pyc every cold start compiles every module it imports
(about twice the cached import time on the dev machine). When an interpreter of the target version is found
(``KYC_PACKAGE_COMPILE_PYTHON``, ``python3.X`` on PATH, or this one when it matches), the build is compiled with
``--invalidation-mode unchecked-hash``: the .pyc are used as they are, whatever the mtimes in the deployed zip.
Otherwise the build ships sources only and says so, and the trace runs on this interpreter against dependencies
installed for it (a shadow build).

Never packaged: tools/, tests/, bytecode of other Python versions, pip's bookkeeping files, executables in bin/.

Exit status: 0 built and verified; 1 the build or its verification failed; 2 bad configuration (environment,
function folders); 3 a function is larger than ``KYC_PACKAGE_MAX_MB``. A failed run leaves ``build/<f>`` as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ./scripts/package sets PYTHONPATH; running the file directly works too
    sys.path.insert(0, str(ROOT))

from tools.package import diet, interpreters  # noqa: E402
from tools.package.exercise import ExerciseError, Run, exercise  # noqa: E402

INVENTORY_FORMAT = "inv1"  # part of the cache key: a cache written by an older version of this script is not reused
DEFAULT_MAX_MB = 20.0
MB = 1_000_000
DEV_ONLY = ("tools", "sandbox", "devstack", "ops", "tests")
# Inside a dist-info folder only these are kept: METADATA (importlib.metadata.version() at import time),
# the module map and the licences. RECORD, INSTALLER, REQUESTED, direct_url.json, WHEEL are pip's bookkeeping.
DIST_INFO_KEEP = {"METADATA", "top_level.txt", "entry_points.txt"}
PIP_NOISE = "is neither a file nor a directory"


class PackageError(Exception):
    """The build or its verification failed (exit status 1)."""

    status = 1


class ConfigError(PackageError):
    """Bad environment or function folders (exit status 2)."""

    status = 2


class BudgetError(PackageError):
    """A function is larger than KYC_PACKAGE_MAX_MB (exit status 3)."""

    status = 3


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


def requirements_file() -> Path:
    """The runtime requirements to package (``KYC_PACKAGE_REQUIREMENTS``; the tests use a smaller one)."""
    return Path(os.environ.get("KYC_PACKAGE_REQUIREMENTS") or ROOT / "requirements.txt").resolve()


def requirements_key(python_version: str, target_platform: str | None) -> str:
    digest = hashlib.sha256(requirements_file().read_bytes()).hexdigest()[:12]
    return f"py{python_version}-{target_platform or 'local'}-{digest}-{INVENTORY_FORMAT}"


def pip_install(target: Path, python_version: str, target_platform: str | None, installer: str) -> None:
    """``installer`` is the interpreter whose pip runs. Only an interpreter of the target version gets environment
    markers right: pip evaluates ``python_version < "3.11"`` (aiohttp's async_timeout, ...) against the interpreter
    it runs in, whatever ``--python-version`` says."""
    cmd = [installer, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", "--no-input",
           "--root-user-action=ignore",
           "--target", str(target), "--only-binary=:all:"]
    if target_platform is not None:
        cmd += ["--platform", target_platform, "--implementation", "cp", "--python-version", python_version]
    cmd += ["-r", str(requirements_file())]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip() and PIP_NOISE not in line:
            print(line, file=sys.stderr)
    if result.returncode != 0:
        raise PackageError(f"pip could not install requirements.txt for Python {python_version} "
                           f"({target_platform or 'local platform'})")


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
) -> tuple[Path, dict[str, diet.Distribution]]:
    """Installs requirements.txt once per (python, platform, requirements, installer) into the cache.

    Returns the folder and its inventory: each distribution's files (read from RECORD before pip's bookkeeping is
    dropped), version, summary and requirements.
    """
    key = requirements_key(python_version, target_platform) + ("" if installer == sys.executable else "-native")
    deps = cache / key
    inventory_file = cache / f"{key}.json"
    if deps.is_dir() and inventory_file.exists():
        log(f"dependencies for Python {python_version} ({target_platform or 'local'}) from cache {deps}")
        return deps, diet.load_inventory(inventory_file)
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    log(f"installing requirements.txt for Python {python_version} ({target_platform or 'local platform'})")
    try:
        pip_install(staging, python_version, target_platform, installer)
        inventory = diet.inventory(staging)
        slim(staging)
        inventory = diet.existing(inventory, staging)
        shutil.rmtree(deps, ignore_errors=True)
        staging.rename(deps)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    diet.save_inventory(inventory, inventory_file)
    return deps, inventory


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
            raise ConfigError(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} has no index.py")
        found.append(path)
    if not found:
        raise ConfigError(f"no function folders in {functions_root}")
    return found


def assemble_code(function_dir: Path, dest: Path) -> None:
    """The function's own folder and the shared package into a fresh ``dest``."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
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


def target_compiler(python_version: str) -> str | None:
    """An interpreter of the target version to compile bytecode with, or None."""
    explicit = os.environ.get("KYC_PACKAGE_COMPILE_PYTHON", "").strip()
    if not explicit:
        return interpreters.find_python(python_version)
    if interpreters.version_of(explicit) != python_version:
        raise ConfigError(f"KYC_PACKAGE_COMPILE_PYTHON is not a Python {python_version} interpreter")
    return explicit


def cache_tag(compiler: str) -> str:
    result = subprocess.run([compiler, "-c", "import sys; print(sys.implementation.cache_tag)"],
                            capture_output=True, text=True, check=True, timeout=30)
    return result.stdout.strip()


def compile_paths(paths: list[Path], compiler: str) -> None:
    """Unchecked hash-based .pyc (PEP 552) beside each source: valid however the deployment tool sets mtimes."""
    if not paths:
        return
    cmd = [compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-i", "-"]
    # Exit status 1 means some file did not compile (dependencies ship a few Python 2-only helpers); what matters
    # is that our own code compiled, which compile_function_code checks.
    subprocess.run(cmd, input="\n".join(str(p) for p in paths), capture_output=True, text=True, timeout=900,
                   check=False)


def compiled(source: Path, tag: str) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"


def compile_dependencies(deps: Path, files: list[str], compiler: str, tag: str) -> list[str]:
    """Compiles (once, in the cache) the shipped sources that have no bytecode yet; returns ``files`` plus the
    bytecode files to ship with them."""
    sources = [deps / f for f in files if f.endswith(".py")]
    compile_paths([s for s in sources if not compiled(s, tag).is_file()], compiler)
    return files + [compiled(s, tag).relative_to(deps).as_posix() for s in sources if compiled(s, tag).is_file()]


def compile_function_code(build: Path, compiler: str, tag: str) -> None:
    """The function's own modules and shared/ (the dependencies come compiled from the cache)."""
    code = [build / "index.py", build / "shared"] + [p for p in build.iterdir() if p.suffix == ".py"]
    compile_paths(sorted({p for item in code for p in ([item] if item.is_file() else item.rglob("*.py"))}), compiler)
    for source in [build / "index.py", *(build / "shared").rglob("*.py")]:
        if not compiled(source, tag).is_file():
            raise PackageError(f"{build.name}: {source.relative_to(build)} did not compile")


def check_abi(build: Path, python_version: str, target_platform: str) -> None:
    """Every CPython extension for the target's Linux architecture must be built for the target version."""
    # manylinux2014_x86_64 and PEP 600's manylinux_2_17_x86_64 (both taken by pip --platform) name the same x86_64
    match = re.fullmatch(r"(?:manylinux\d+|manylinux_\d+_\d+|linux)_(?P<arch>.+)", target_platform)
    arch = match["arch"] if match else target_platform
    want = python_version.replace(".", "")
    pattern = re.compile(r"\.cpython-(\d+)[a-z]*-" + re.escape(arch) + r"-linux-gnu\.so$")
    wrong = []
    for ext in build.rglob("*.so"):
        match = pattern.search(ext.name)
        if match and match.group(1) != want:
            wrong.append(str(ext.relative_to(build)))
    if wrong:
        raise PackageError(f"{build.name}: extensions not built for Python {python_version}: {', '.join(wrong[:5])}")


@contextlib.contextmanager
def exclusive(build_root: Path) -> Iterator[None]:
    """One run per build folder at a time (``s deploy`` may start several pre-deploy actions at once)."""
    with (build_root / ".package.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another ./scripts/package run on {build_root}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def describe_failures(runs: list[Run]) -> str:
    lines = []
    for run in runs:
        if run.import_error:
            lines.append(f"{run.backend}: {run.import_error}")
        lines += [f"{run.backend}: step '{step.name}': {step.detail}" for step in run.failures]
    return "; ".join(lines)


def compare(full: list[Run], trimmed: list[Run], left_out: Iterable[str] = ()) -> list[str]:
    """Why the trimmed folder does not behave like the full one (empty: it does). ``left_out``: modules whose files
    the plan left out on purpose (``diet.LEFT_OUT``), the only ones the trimmed runs may not load."""
    allowed_missing = set(left_out)
    problems = []
    # Not strict: exercise() stops at the first run whose handler does not import, so that run is the trimmed
    # build's last, and its import error is the problem to report.
    if len(trimmed) != len(full) and not (trimmed and trimmed[-1].import_error):
        problems.append(f"ran {len(trimmed)} of the full build's {len(full)} backends")
    for before, after in zip(full, trimmed, strict=False):
        if after.import_error:
            problems.append(f"{after.backend}: does not import: {after.import_error}")
            continue
        problems += [f"{after.backend}: step '{s.name}' fails: {s.detail}" for s in after.failures]
        if [s.name for s in before.steps] != [s.name for s in after.steps]:
            problems.append(f"{after.backend}: ran other steps than the full build")
        missing = sorted(set(before.trace["modules"]) - set(after.trace["modules"]) - allowed_missing)
        extra = sorted(set(after.trace["modules"]) - set(before.trace["modules"]))
        if missing:
            problems.append(f"{after.backend}: modules the full build loaded are missing: {', '.join(missing[:12])}")
        if extra:
            problems.append(f"{after.backend}: modules only the trimmed build loaded: {', '.join(extra[:12])}")
    return problems


def file_owner_sizes(folder: Path, dists: dict[str, diet.Distribution]) -> dict[str, int]:
    """Bytes per shipped distribution in a built folder, bytecode counted with its source."""
    owner = {f: d.name for d in dists.values() for f in d.files}
    sizes: dict[str, int] = {}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(folder)
        if relative.parent.name == "__pycache__":  # x/__pycache__/m.cpython-310.pyc belongs to x/m.py
            relative = relative.parent.parent / (relative.name.split(".", 1)[0] + ".py")
        name = owner.get(relative.as_posix()) or ("(function code)" if relative.parts[0] in {"shared", "index.py"}
                                                  or len(relative.parts) == 1 else "(other)")
        sizes[name] = sizes.get(name, 0) + path.stat().st_size
    return sizes


def build_function(
    function_dir: Path, *, deps: Path, dists: dict[str, diet.Distribution], trace_deps: Path,
    trace_dists: dict[str, diet.Distribution], trace_python: str, compiler: str | None, on_target: bool,
    staging: Path, target_python: str, target_platform: str,
) -> dict[str, Any]:
    """Trace, plan, assemble, compile, verify one function into ``staging/<name>``; returns its report entry."""
    name = function_dir.name
    full = staging / ".full" / name
    assemble_code(function_dir, full)
    copy_tree(trace_deps, full)
    try:
        runs = exercise(full, name, trace_python)
    except ExerciseError as exc:
        raise PackageError(f"{name}: tracing failed: {exc}") from None
    # What the function carried before the diet: its code and every installed file, bytecode not counted.
    untrimmed = diet.tree_size(full) - sum(p.stat().st_size for p in full.rglob("*.pyc"))
    shutil.rmtree(full)
    import_errors = [r.import_error for r in runs if r.import_error]
    if import_errors:
        raise PackageError(f"{name}: handler does not import from its build folder: {import_errors[0]}")
    foreign = sorted({m for r in runs for m in r.trace.get("foreign", [])})
    if foreign:
        raise PackageError(f"{name}: modules came from outside the folder and the standard library: {foreign}")
    if any(r.failures for r in runs):
        raise PackageError(f"{name}: its scenario fails with every dependency present (a handler bug, not the "
                           f"diet): {describe_failures(runs)}")
    plan = diet.plan(name, trace_dists, {r.backend: r.trace for r in runs}, python=runs[0].trace["python"])
    if not on_target:  # traced on another Python: what fails to load there may load on the target
        plan.dropped_files = {f: why for f, why in plan.dropped_files.items() if f in diet.LEFT_OUT}
    missing = sorted(set(plan.shipped) - set(dists))
    if missing:
        raise PackageError(f"{name}: traced distributions not installed for the target: {', '.join(missing)}")
    # Our own modules that a traced run loaded: their imports inside functions (jsonutil's orjson) are references
    # too; a module no path loads (the OSS adapter in the initializer) references nothing.
    loaded = {str(Path(f).with_suffix("")) for r in runs for f in r.trace.get("loaded", {}).values()}
    own_code = {
        file: path.read_bytes()
        for folder, prefix in ((function_dir, ""), (ROOT / "shared", "shared/"))
        for path in sorted(folder.rglob("*.py"))
        if (file := prefix + str(path.relative_to(folder)))[: -len(".py")] in loaded
    }
    referenced = diet.references(dists, deps, plan.shipped, own_code)
    unexplained = {d: files for d, files in referenced.items() if d not in diet.UNREACHABLE}
    if unexplained:
        detail = "; ".join(f"{d} (imported by {', '.join(files[:3])})" for d, files in unexplained.items())
        raise PackageError(f"{name}: shipped code imports distributions no traced path imported: {detail}. Ship "
                           f"them (ALLOW_LIST) or say why they are unreachable (UNREACHABLE) in tools/package/diet.py")

    dest = staging / name
    assemble_code(function_dir, dest)
    files = plan.files(dists)
    if compiler is not None:
        tag = cache_tag(compiler)
        files = compile_dependencies(deps, files, compiler, tag)
        compile_function_code(dest, compiler, tag)
    diet.assemble(files, deps, dest)
    check_abi(dest, target_python, target_platform)
    if on_target:
        checked = dest
    else:  # the same plan applied to the dependencies of the interpreter that can run here
        checked = staging / ".shadow" / name
        assemble_code(function_dir, checked)
        diet.assemble(plan.files(trace_dists), trace_deps, checked)
    try:
        verified = exercise(checked, name, trace_python)
    except ExerciseError as exc:
        raise PackageError(f"{name}: verifying the trimmed build failed: {exc}") from None
    # The modules the left-out files provided in the full runs (tablestore loads its native codec as "ots_sdk")
    left_out = {module for r in runs for module, file in r.trace.get("loaded", {}).items() if file in diet.LEFT_OUT}
    problems = compare(runs, verified, left_out=left_out)
    if problems:
        raise PackageError(f"{name}: the trimmed build does not behave like the full one (a needed module was "
                           f"left out; add its distribution to ALLOW_LIST in tools/package/diet.py with why): "
                           + "; ".join(problems))
    if checked != dest:
        shutil.rmtree(checked)

    direct = diet.requirement_names(requirements_file())
    imported_by = diet.importers(trace_dists, [r.trace for r in runs])
    sizes = file_owner_sizes(dest, dists)
    return {
        "function": name,
        "unzipped": diet.tree_size(dest),
        "zipped": diet.zipped_size(dest, staging),
        "untrimmedSources": untrimmed,
        "steps": {r.backend: len(r.steps) for r in runs},
        "distributions": [
            {"name": d, "version": dists[d].version, "bytes": sizes.get(d, 0), "backends": plan.shipped[d],
             "for": diet.why(d, plan.shipped, dists, direct, imported_by)}
            for d in sorted(plan.shipped, key=lambda d: -sizes.get(d, 0))
        ],
        "functionCode": sizes.get("(function code)", 0),
        "droppedFiles": plan.dropped_files,
        "unreachable": {d: {"importedBy": files, "why": diet.UNREACHABLE[d]} for d, files in referenced.items()},
        "notShipped": plan.not_shipped,
    }


def mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def render(report: dict[str, Any]) -> str:
    lines = [f"Packaged for Python {report['python']} / {report['platform']}"
             f" (traced on Python {report['tracedOn']}; MB = 10^6 bytes; zipped: deflate, zlib level 6)", ""]
    lines.append(f"{'function':<16} {'unzipped':>9} {'zipped':>8}   distributions shipped")
    for entry in report["functions"]:
        names = ", ".join(d["name"] for d in entry["distributions"])
        lines.append(f"{entry['function']:<16} {mb(entry['unzipped']):>9} {mb(entry['zipped']):>8}   {names}")
    for entry in report["functions"]:
        lines += ["", f"{entry['function']}: {mb(entry['unzipped'])} unzipped, {mb(entry['zipped'])} zipped "
                      f"(all of requirements.txt, sources only: {mb(entry['untrimmedSources'])}); "
                      f"scenario steps {entry['steps']}"]
        lines.append(f"  {'(function code: index.py + shared/)':<44} {mb(entry['functionCode']):>8}")
        for dist in entry["distributions"]:
            label = f"{dist['name']} {dist['version']}"
            lines.append(f"  {label:<30} {'+'.join(dist['backends']):<13} {mb(dist['bytes']):>8}  {dist['for']}")
        for path, why in entry["droppedFiles"].items():
            lines.append(f"  left out {path}: {why}")
        for dist, detail in entry["unreachable"].items():
            files = detail["importedBy"]
            shown = ", ".join(files[:2]) + (f" and {len(files) - 2} more" if len(files) > 2 else "")
            lines.append(f"  not shipped though {shown} import(s) {dist}: {detail['why']}")
        lines.append(f"  not shipped (never imported): {', '.join(entry['notShipped']) or 'none'}")
    return "\n".join(lines) + "\n"


def swap_into_place(staging: Path, build_root: Path, names: list[str]) -> None:
    for name in names:
        final, old = build_root / name, build_root / f".old-{name}"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        (staging / name).rename(final)
        shutil.rmtree(old, ignore_errors=True)


def settings() -> tuple[str, str, Path, Path, Path, float]:
    target_python = os.environ.get("KYC_PACKAGE_PYTHON", "3.10").strip()
    target_platform = os.environ.get("KYC_PACKAGE_PLATFORM", "manylinux2014_x86_64").strip()
    if not re.fullmatch(r"3\.\d+", target_python):
        raise ConfigError("KYC_PACKAGE_PYTHON must look like 3.10")
    try:
        max_mb = float(os.environ.get("KYC_PACKAGE_MAX_MB") or DEFAULT_MAX_MB)
    except ValueError:
        raise ConfigError("KYC_PACKAGE_MAX_MB must be a number of megabytes (10^6 bytes)") from None
    build_root = Path(os.environ.get("KYC_BUILD_DIR") or ROOT / "build").resolve()
    cache = Path(os.environ.get("KYC_PACKAGE_CACHE") or build_root / ".deps").resolve()
    functions_root = Path(os.environ.get("KYC_FUNCTIONS_DIR") or ROOT / "functions").resolve()
    if not requirements_file().is_file():
        raise ConfigError(f"{requirements_file()} does not exist (KYC_PACKAGE_REQUIREMENTS)")
    if not functions_root.is_dir():
        raise ConfigError(f"{functions_root} is not a folder (KYC_FUNCTIONS_DIR)")
    return target_python, target_platform, build_root, cache, functions_root, max_mb


def main(argv: list[str]) -> int:
    if argv:
        if argv[0] in {"-h", "--help"}:
            header = (ROOT / "scripts" / "package").read_text(encoding="utf-8").split("\n. ", 1)[0].splitlines()[1:]
            print("\n".join(line[2:] for line in header))
            return 0
        raise ConfigError(f"no arguments expected (configuration is by environment, see --help): {' '.join(argv)}")
    target_python, target_platform, build_root, cache, functions_root, max_mb = settings()
    functions = function_dirs(functions_root)
    build_root.mkdir(parents=True, exist_ok=True)
    with exclusive(build_root):
        for stale in build_root.glob(".staging-*"):  # left by a run that was killed
            shutil.rmtree(stale, ignore_errors=True)
        compiler = target_compiler(target_python)
        if compiler is None:
            log(f"no Python {target_python} interpreter here: shipping sources only, so FC compiles them at every "
                f"cold start, and dependencies that only some Python versions need are chosen for Python "
                f"{local_python()} (set KYC_PACKAGE_COMPILE_PYTHON or put python{target_python} on PATH)")
        deps, dists = dependency_set(cache, target_python, target_platform, compiler or sys.executable)
        on_target = compiler is not None and local_matches_platform(target_platform)
        if on_target:
            assert compiler is not None
            trace_python, trace_deps, trace_dists = compiler, deps, dists
            log(f"tracing and verifying each function on Python {target_python} ({compiler})")
        else:
            trace_python = sys.executable
            local_platform = target_platform if local_matches_platform(target_platform) else None
            trace_deps, trace_dists = dependency_set(cache, local_python(), local_platform)
            log(f"tracing on local Python {local_python()} (it cannot load Python {target_python} wheels): a shadow "
                f"build with local-interpreter dependencies; extensions are not trimmed")
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=build_root))
        try:
            entries = []
            for function_dir in functions:
                entry = build_function(
                    function_dir, deps=deps, dists=dists, trace_deps=trace_deps, trace_dists=trace_dists,
                    trace_python=trace_python, compiler=compiler, on_target=on_target, staging=staging,
                    target_python=target_python, target_platform=target_platform,
                )
                log(f"{entry['function']}: {mb(entry['unzipped'])} unzipped, {mb(entry['zipped'])} zipped, "
                    f"{len(entry['distributions'])} distributions; trimmed build verified"
                    + (", bytecode included" if compiler else ""))
                entries.append(entry)
            swap_into_place(staging, build_root, [f.name for f in functions])
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        report = {"python": target_python, "platform": target_platform,
                  "tracedOn": local_python() if not on_target else target_python, "maxMb": max_mb,
                  "functions": entries}
        text = render(report)
        (build_root / "package-report.txt").write_text(text, encoding="utf-8")
        (build_root / "package-report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(text, end="", flush=True)
    log(f"report: {build_root / 'package-report.txt'}")
    log(f"built {len(functions)} functions for Python {target_python} / {target_platform}")
    over = [e["function"] for e in entries if e["unzipped"] > max_mb * MB]
    if over:
        message = f"larger than KYC_PACKAGE_MAX_MB={max_mb:g} MB unzipped: {', '.join(over)}"
        if on_target:
            raise BudgetError(message + " (the builds are in place; see the report for what each carries)")
        log(f"warning: {message} (traced on another Python, so unloadable extensions were kept)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except PackageError as error:
        print(f"package: error: {error}", file=sys.stderr, flush=True)
        sys.exit(error.status)
