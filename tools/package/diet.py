"""Which files of the installed dependencies a function ships: decided from what its traced runs imported.

Granularity (why not finer): a *distribution* ships whole when any of its files was imported or opened in any
traced run of the function (both backends), or when ``ALLOW_LIST`` names it. Whole, because SDKs import parts of
themselves inside functions on paths no test may reach (``alibabacloud_oss_v2.validation`` imports ``.arns`` when a
bucket is an ARN, ``requests`` imports ``idna`` for non-ASCII hosts, ...): trimming inside a distribution would
trade a few hundred kB for an ImportError in production. The one exception is a compiled extension module that the
target Python *tried to load and could not* (``failed`` in every trace that attempted it, e.g. tablestore's
``ots_sdk.so``, built for CPython 3.12 only): shipping it changes nothing but the size, since the import fails
either way and the SDK falls back the same way when the file is absent (the verification run proves it). And the
files ``LEFT_OUT`` names, on every target: optional accelerators an SDK falls back from by itself, left out on
purpose, each with why.

Everything else is dropped: distributions never imported on any path (numpy, aiohttp, pycryptodome, ...).
``dist-info`` folders of shipped distributions keep METADATA (importlib.metadata) and the licence files.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Distributions shipped even when no traced run imports them: a dependency needed only on a path the scenarios
#: (tools/package/exercise.py) do not drive. Each names the module of ours that imports it, and ships only to a
#: function whose traced runs load that module (so never where nothing can import it), with the reason.
#: ``references`` fails the build when shipped code, ours included, imports a distribution that is neither shipped
#: nor explained in ``UNREACHABLE``.
ALLOW_LIST: dict[str, tuple[str, str]] = {
    "orjson": ("shared.jsonutil", "shared.jsonutil imports it on the first document of 64 KiB or more (a CheckResult "
               "with images; a request body when KYC_MAX_BODY_BYTES allows one that large) or that the standard "
               "library reads differently (\\u escapes, numbers past 64 bits...), which a function's scenario may "
               "never send"),
    "pybase64": ("shared.results.images", "shared.results.images imports it on the first image of 4096 base64 "
                 "characters or more it decodes (a CheckResult with images: the result_fetcher's, the sweeper's "
                 "re-checks)"),
}

#: Distributions that shipped SDK code imports (outside ``if TYPE_CHECKING:``) but that no path of ours can reach,
#: each with why. A shipped file importing a distribution that is neither shipped, nor here, fails the build:
#: after an SDK upgrade adds such an import, someone decides (ship it: ALLOW_LIST; or explain it here).
UNREACHABLE: dict[str, str] = {
    "typing-extensions": "pybase64._typing, imported by pybase64._fallback only, when pybase64's compiled module "
    "cannot load (the package ships the build for its platform, which the verification run loads; "
    "shared.results.images falls back to the standard library if pybase64 cannot be imported at all)",
    "aiohttp": "the async clients only (tablestore.connection's AsyncConnectionPool, alibabacloud_oss_v2.aio); "
    "shared/storage uses the sync clients and imports tablestore without it (tablestore_store.import_tablestore)",
    "crc32c": "tablestore.encoder, for checksums of time-series rows only (PlainBuffer rows use the SDK's crc8); "
    "kept out of the import by tablestore_store.import_tablestore",
    "flatbuffers": "tablestore.flatbuffer: the time-series and SQL codecs, which the TransactionStore never calls; "
    "kept out of the import by tablestore_store.import_tablestore",
    "idna": "urllib3 imports it only to encode a non-ASCII host name (urllib3/util/url.py) or for pyOpenSSL "
    "(urllib3.contrib, unused); the hosts it talks to are the Tablestore/OSS endpoints, ASCII *.aliyuncs.com names",
    "pycryptodome": "alibabacloud_oss_v2.crypto: client-side encryption, never used (objects are encrypted "
    "server-side with KMS); oss.import_oss imports the SDK without it",
}

#: Files of shipped distributions left out on every target, each with why: optional compiled accelerators the SDK
#: imports inside ``try/except ImportError`` and falls back from by itself. The verification run proves the fallback
#: (every step of the scenario passes without the file; the module it provided is the only one allowed to be missing).
LEFT_OUT: dict[str, str] = {
    # tablestore/decoder.py and encoder.py: ``from tablestore.ots_sdk import ots_sdk`` inside try/except ImportError,
    # else the SDK's Python codecs. Measured on 3.12 (./scripts/package with KYC_PACKAGE_PYTHON=3.12, 2026-12-01):
    # 13.7 of the 20.6 MB of the initializer, 27.4 MB the others (over the 20 MB budget); importing the SDK with it
    # 127-440 ms, without it 113-148 ms (four alternating runs).
    "tablestore/ots_sdk/ots_sdk.so": "tablestore's optional native codec (13.7 MB, built for CPython 3.12 only): "
    "left out so that every runtime decodes as FC's python3.10 does (the SDK's Python codecs and its small "
    "PlainBuffer parser), as the tests and the Tablestore double exercise, and a 3.12 package stays under the size "
    "budget; the SDK falls back when its import fails",
}

EXTENSION_SUFFIXES = (".so",)



def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Distribution:
    """One installed distribution: its files (relative to the dependency folder) and what METADATA says."""

    name: str
    version: str
    summary: str
    requires: list[str]
    files: list[str] = field(default_factory=list)


def inventory(deps: Path) -> dict[str, Distribution]:
    """Every distribution pip installed into ``deps``, read from dist-info (RECORD lists the files; it must still
    be there: call this before pip's bookkeeping is removed)."""
    found: dict[str, Distribution] = {}
    for dist_info in sorted(deps.glob("*.dist-info")):
        meta = _metadata(dist_info / "METADATA")
        name = normalize(meta.get("Name", [dist_info.name.rsplit("-", 1)[0]])[0])
        requires = sorted({normalize(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0])
                           for r in meta.get("Requires-Dist", []) if "extra ==" not in r})  # fmt: skip
        files = []
        record = dist_info / "RECORD"
        for line in record.read_text(encoding="utf-8").splitlines() if record.exists() else []:
            path = line.rsplit(",", 2)[0].strip('"')
            if path and not path.startswith(("..", "/")):
                files.append(path)
        found[name] = Distribution(
            name=name,
            version=meta.get("Version", ["?"])[0],
            summary=meta.get("Summary", [""])[0],
            requires=requires,
            files=sorted(files),
        )
    return found


def _metadata(path: Path) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line:
            break  # the headers end at the first blank line; the description follows
        if ":" in line and not line[0].isspace():
            key, value = line.split(":", 1)
            fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def existing(dists: Mapping[str, Distribution], deps: Path) -> dict[str, Distribution]:
    """The inventory restricted to files still present (after removing bytecode, tests, pip's bookkeeping)."""
    return {
        name: Distribution(d.name, d.version, d.summary, d.requires, [f for f in d.files if (deps / f).is_file()])
        for name, d in dists.items()
    }


def save_inventory(dists: Mapping[str, Distribution], path: Path) -> None:
    path.write_text(json.dumps({n: asdict(d) for n, d in sorted(dists.items())}, indent=1) + "\n", encoding="utf-8")


def load_inventory(path: Path) -> dict[str, Distribution]:
    return {name: Distribution(**data) for name, data in json.loads(path.read_text(encoding="utf-8")).items()}


@dataclass
class Plan:
    """What one function ships: distributions (with the backends whose runs imported them) and dropped files."""

    function: str
    shipped: dict[str, list[str]] = field(default_factory=dict)  # distribution -> backends (or ["allow-list"])
    dropped_files: dict[str, str] = field(default_factory=dict)  # relative path -> why
    not_shipped: list[str] = field(default_factory=list)

    def files(self, dists: Mapping[str, Distribution]) -> list[str]:
        return sorted(f for name in self.shipped for f in dists[name].files if f not in self.dropped_files)


def plan(function: str, dists: Mapping[str, Distribution], traces: Mapping[str, Mapping[str, Any]],
         python: str) -> Plan:
    """``traces``: backend -> the child's trace of that run (tools/package/child.py)."""
    owner = {f: d.name for d in dists.values() for f in d.files}
    result = Plan(function)
    for backend, trace in traces.items():
        used = list(trace.get("loaded", {}).values()) + list(trace.get("opened", []))
        for path in used:
            name = owner.get(path)
            if name is not None and backend not in result.shipped.setdefault(name, []):
                result.shipped[name].append(backend)
    loaded_modules = {module for trace in traces.values() for module in trace.get("loaded", {})}
    for name, (importer, _) in ALLOW_LIST.items():
        if name in dists and name not in result.shipped and importer in loaded_modules:
            result.shipped[name] = ["allow-list"]
    for name in result.shipped:
        for path in dists[name].files:
            if path in LEFT_OUT:
                result.dropped_files[path] = f"left out: {LEFT_OUT[path]}"
    # Extensions whose import failed, in a run that attempted it, and that no run loaded: dead weight here.
    loaded_anywhere = {f for trace in traces.values() for f in trace.get("loaded", {}).values()}
    for trace in traces.values():
        for origin in trace.get("failed", {}).values():
            if (origin and origin.endswith(EXTENSION_SUFFIXES) and origin not in loaded_anywhere
                    and owner.get(origin) in result.shipped and origin not in result.dropped_files):
                result.dropped_files[origin] = f"cannot load on Python {python} (its import fails; the SDK falls back)"
    result.not_shipped = sorted(set(dists) - set(result.shipped))
    return result


def assemble(files: Iterable[str], deps: Path, dest: Path) -> None:
    """Hard-links (or copies) ``files`` from ``deps`` into ``dest``."""
    for relative in files:
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(deps / relative, target)
        except OSError:
            shutil.copy2(deps / relative, target)


def tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_size(folder: Path, scratch: Path) -> int:
    """Size of ``folder`` zipped with deflate at zlib's default level (what a deployment tool uploads; the exact
    level Serverless Devs uses is not documented, so this is an estimate within a few percent)."""
    archive = scratch / f".{folder.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    size = archive.stat().st_size
    archive.unlink()
    return size


def requirement_names(requirements: Path) -> set[str]:
    """The distributions requirements.txt names (normalized)."""
    names = set()
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        requirement = raw.partition("#")[0].strip()
        if requirement and not requirement.startswith("-"):
            names.add(normalize(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]))
    return names


def importers(dists: Mapping[str, Distribution], traces: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Distribution -> the files (of the function or of other distributions) that imported it first in a trace."""
    owner = {f: d.name for d in dists.values() for f in d.files}
    found: dict[str, set[str]] = {}
    for trace in traces:
        loaded = trace.get("loaded", {})
        for top, importer in trace.get("importers", {}).items():
            path = loaded.get(top)
            name = owner.get(path) if path else None
            if name is None and path:  # a namespace package (google/): the owner of one of its modules
                name = next((owner[f] for m, f in loaded.items() if m.startswith(top + ".") and f in owner), None)
            if name is not None:
                found.setdefault(name, set()).add(importer)
    return found


def why(name: str, shipped: Iterable[str], dists: Mapping[str, Distribution], direct: set[str],
        imported_by: Mapping[str, set[str]]) -> str:
    """What a shipped distribution is for: who requires it, who imports it, and its own summary."""
    if name in ALLOW_LIST:
        return f"allow-list: {ALLOW_LIST[name][1]}"
    parents = sorted(p for p in shipped if name in dists[p].requires)
    required = "requirements.txt" if name in direct else f"needed by {', '.join(parents) or '?'}"
    by = sorted(imported_by.get(name, ()))
    summary = dists[name].summary.rstrip(".")
    return f"{required}; imported by {', '.join(by[:2]) or '?'}" + (f" ({summary})" if summary else "")


def _top_level(path: str) -> str | None:
    """The importable top-level name a distribution file provides, or None (metadata, data, libs)."""
    first = path.split("/", 1)[0]
    if first.startswith("..") or first == "__pycache__" or first.endswith((".dist-info", ".data", ".libs")):
        return None
    if "/" in path:
        return first if first.isidentifier() else None
    stem = first.split(".", 1)[0]
    return stem if first.endswith((".py", ".so")) and stem.isidentifier() else None


def _imported_tops(source: bytes) -> set[str]:
    """Top-level modules a file imports absolutely, except under ``if TYPE_CHECKING:`` (never run)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # a Python 2-only helper some wheels ship: never imported on 3.x
        return set()
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


_REFERENCES: dict[tuple[str, str], dict[str, set[str]]] = {}


def references(dists: Mapping[str, Distribution], deps: Path, shipped: Iterable[str],
               own_code: Mapping[str, bytes] | None = None) -> dict[str, list[str]]:
    """Installed distributions that are not shipped but that shipped code imports: distribution -> the importing
    files. Shipped code is the shipped distributions' (parsed once per process) and ``own_code`` (path -> source:
    the modules of the function and of ``shared/`` that a traced run loaded, whose imports inside functions may
    be on paths no run took)."""
    owner_of_top: dict[str, str] = {}
    for dist in dists.values():
        for path in dist.files:
            top = _top_level(path)
            if top is not None:
                owner_of_top.setdefault(top, dist.name)
    shipped = set(shipped)
    found: dict[str, set[str]] = {}
    for name in sorted(shipped):
        key = (str(deps), name)
        if key not in _REFERENCES:
            refs: dict[str, set[str]] = {}
            for path in dists[name].files:
                if path.endswith(".py"):
                    for top in _imported_tops((deps / path).read_bytes()):
                        refs.setdefault(top, set()).add(path)
            _REFERENCES[key] = refs
        for top, files in _REFERENCES[key].items():
            target = owner_of_top.get(top)
            if target is not None and target not in shipped:
                found.setdefault(target, set()).update(files)
    for path, source in (own_code or {}).items():
        for top in _imported_tops(source):
            target = owner_of_top.get(top)
            if target is not None and target not in shipped:
                found.setdefault(target, set()).add(path)
    return {name: sorted(files) for name, files in sorted(found.items())}
