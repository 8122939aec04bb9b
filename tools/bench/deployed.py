"""The code packages as FC runs them: ``build/<function>`` zipped as ``s deploy`` uploads it, unpacked into an empty
folder, run by an interpreter of the package's Python version (FC's ``python3.10``).

A build is used only when it is *current*: ``build/package-report.json`` exists and every function's code in it
(``functions/<f>/`` and ``shared/``, byte for byte) is the working tree's. Otherwise the full benchmark runs
``./scripts/package`` first; ``--smoke`` (which must stay short) measures a *stand-in* instead and says so: the
function's code and ``shared/`` compiled to unchecked-hash bytecode as the package is, with this interpreter and the
dev venv's installed dependencies (not a packaged figure).
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import site
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.bench.proc import ROOT
from tools.deployment import function_folders
from tools.package.interpreters import find_python

REPORT = "package-report.json"
_SKIP = ("__pycache__",)


@dataclass(frozen=True)
class Code:
    """One function's code as a cold start sees it: ``folder`` (the unpacked /code), ``python`` to run it with,
    ``extra_path`` (the stand-in's dependencies; empty for a package), and how it was made."""

    function: str
    folder: Path
    python: str
    extra_path: tuple[str, ...] = ()
    zipped_bytes: int = 0
    unzipped_bytes: int = 0
    unpack_ms: float = 0.0
    pyc_files: int = 0


@dataclass
class Packages:
    kind: str  # "package" (build/ unpacked) or "stand-in"
    python: str
    python_version: str
    notes: list[str] = field(default_factory=list)
    code: dict[str, Code] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "python": self.python, "pythonVersion": self.python_version, "notes": self.notes,
            "functions": {
                name: {"zippedBytes": c.zipped_bytes, "unzippedBytes": c.unzipped_bytes, "unpackMs": c.unpack_ms,
                       "pycFiles": c.pyc_files}
                for name, c in self.code.items()
            },
        }  # fmt: skip


def _code_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*.py")
        if not any(part in _SKIP for part in p.parts) and not p.name.startswith("test_")
    }


def stale_reason(build: Path, functions: tuple[str, ...] | None = None) -> str | None:
    """Why ``build`` is not the working tree's code (None when it is)."""
    if not (build / REPORT).is_file():
        return f"no {build / REPORT}"
    shared = _code_files(ROOT / "shared")
    for function in function_folders() if functions is None else functions:
        folder = build / function
        if not (folder / "index.py").is_file():
            return f"{folder} is missing"
        if _code_files(folder / "shared") != shared:
            return f"{function}: shared/ differs from the working tree"
        own = _code_files(ROOT / "functions" / function)
        if {name: (folder / name).read_bytes() if (folder / name).is_file() else None for name in own} != own:
            return f"{function}: functions/{function} differs from the working tree"
    return None


def run_package(build: Path) -> None:
    """``./scripts/package`` into ``build`` (its own summary lines are printed)."""
    started = time.perf_counter()
    print(f"bench: running ./scripts/package into {build} ...", flush=True)
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "_package.py")], cwd=ROOT,
        env={**os.environ, "KYC_BUILD_DIR": str(build)}, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"./scripts/package failed ({done.returncode}): {done.stderr[-2000:]}")
    print(f"bench: packaged in {time.perf_counter() - started:.0f} s", flush=True)


def unpack(source: Path, dest: Path, scratch: Path) -> tuple[int, int, float]:
    """``source`` zipped (deflate, as diet.zipped_size estimates the upload) and extracted into the empty ``dest``:
    (zipped bytes, unzipped bytes, extract ms). Extraction sets every mtime to now, as an upload may: the shipped
    unchecked-hash .pyc stay valid (PEP 552)."""
    archive = scratch / f"{source.name}.zip"
    unzipped = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())
                unzipped += path.stat().st_size
    dest.mkdir(parents=True)  # FileExistsError rather than unpacking over older files
    started = time.perf_counter()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    extract_ms = (time.perf_counter() - started) * 1000
    zipped = archive.stat().st_size
    archive.unlink()
    return zipped, unzipped, extract_ms


def packages(build: Path, scratch: Path, *, smoke: bool) -> Packages:
    """Every function's code, unpacked under ``scratch``: the build when current (rebuilt first unless ``smoke``),
    else (smoke only) stand-ins."""
    reason = stale_reason(build)
    if reason is not None and not smoke:
        print(f"bench: the package build is not current ({reason})", flush=True)
        run_package(build)
        reason = stale_reason(build)
        if reason is not None:
            raise RuntimeError(f"./scripts/package ran but the build is still not current: {reason}")
    if reason is not None:
        return _stand_ins(scratch, f"--smoke without a current package build ({reason}): cold starts measured on "
                                   f"stand-ins (function code + shared/ with the dev venv's dependencies), not "
                                   f"on packages; run ./scripts/package first for packaged figures")
    report = json.loads((build / REPORT).read_text(encoding="utf-8"))
    version = str(report["python"])
    python = find_python(version)
    if python is None:
        return _stand_ins(scratch, f"no Python {version} interpreter (the packages' runtime) on this machine: cold "
                                   f"starts measured on stand-ins with this Python instead")
    found = Packages("package", python, version)
    if report.get("tracedOn") != version:
        found.notes.append(f"the build was traced on Python {report.get('tracedOn')}, not {version}")
    for function in function_folders():
        dest = scratch / function / "code"
        zipped, unzipped, extract_ms = unpack(build / function, dest, scratch)
        pyc = sum(1 for _ in dest.rglob("*.pyc"))
        if pyc == 0:
            found.notes.append(f"{function}: the package ships no bytecode (every cold start compiles)")
        found.code[function] = Code(function, dest, python, (), zipped, unzipped, extract_ms, pyc)
    return found


def _stand_ins(scratch: Path, note: str) -> Packages:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = Packages("stand-in", sys.executable, version, [note])
    dependencies = tuple(site.getsitepackages())
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "test_*.py", "conftest.py")
    for function in function_folders():
        dest = scratch / function / "code"
        shutil.copytree(ROOT / "shared", dest / "shared", ignore=ignore)
        for item in (ROOT / "functions" / function).iterdir():
            if item.is_file() and item.suffix == ".py":
                shutil.copy2(item, dest / item.name)
        compileall.compile_dir(dest, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        pyc = sum(1 for _ in dest.rglob("*.pyc"))
        found.code[function] = Code(function, dest, sys.executable, dependencies, 0, 0, 0.0, pyc)
    return found
