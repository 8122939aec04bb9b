"""The packaged handler under trace: run by the *target* Python (FC's python3.10) with nothing but one build folder.

    python3.10 -I -S -B tools/package/child.py <build folder>

``-I -S`` leave ``sys.path`` = the standard library; this script puts the build folder in front, so every
non-stdlib import comes from the folder as FC would unpack it to ``/code``. The script itself imports only the
standard library: it never adds a module to what it records.

Protocol (one JSON document per line): commands on stdin, one answer per command on the file descriptor that was
stdout at start. Stdout is then pointed at stderr, so whatever the handler prints (its JSON log lines) cannot
mix with the answers.

    {"op": "ready"}                         -> {"ok": true, "index": <file>} once ``index`` imported, else
                                               {"ok": false, "stage": "import", "error": ...} and the process exits
    {"op": "initialize"}                    -> {"ok": true} | {"ok": false, "error": "Type: message"}
    {"op": "invoke", "event": <JSON>}       -> {"ok": true, "answer": <JSON>} | {"ok": false, "error": ...}
    {"op": "trace"}                         -> {"ok": true, "trace": {...}} and the process exits

``invoke`` hands the handler the event as FC 3.0 does for Python: the JSON document as ``bytes``.

The trace, gathered by an audit hook (PEP 578) installed before the handler is imported:

* ``loaded``: every module in ``sys.modules`` at the end whose file lies in the build folder -> that file
  (relative); namespace packages -> their folder;
* ``failed``: modules whose import was attempted (audit event ``import``) but that are not loaded at the end, with
  the file the import system would load for them when one exists in the build folder (an extension module built
  for another Python version, for example), else null (optional dependencies that are simply absent);
* ``opened``: data files of the build folder opened while running (CA bundles, METADATA; not code files);
* ``importers``: for each top-level package loaded from the folder, the folder's file whose code imported it first;
* ``foreign``: modules loaded from a file neither in the folder nor in the standard library (must be none);
* ``modules``: the name of every loaded module, standard library included: two runs of the same steps must load
  the same set, which is how a trimmed folder is checked against the full one.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import traceback
from typing import Any

_CODE_SUFFIXES = (".py", ".pyc", ".so")  # modules are in ``loaded``; ``opened`` is for data files


class Context:
    """The attributes of FC's ``context`` that handlers read (``request_id``); the rest stays None."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.credentials = None
        self.function = None
        self.service = None
        self.region = "cn-hongkong"
        self.account_id = "1234567890123456"


def main() -> int:
    build = os.path.realpath(sys.argv[1])
    prefix = build + os.sep
    attempted: set[str] = set()
    opened: set[str] = set()
    importers: dict[str, str] = {}

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "import":
            name = str(args[0])
            attempted.add(name)
            top = name.partition(".")[0]
            if top not in importers:
                importers[top] = _importer(prefix, top)
        elif event == "open" and args and isinstance(args[0], str | bytes):
            path = os.fsdecode(args[0])
            if path.startswith(prefix) and not path.endswith(_CODE_SUFFIXES):
                opened.add(path[len(prefix) :])

    standard = tuple(os.path.realpath(entry) + os.sep for entry in sys.path if entry)  # -I -S: the stdlib only
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.path.insert(0, build)
    sys.addaudithook(audit)

    def answer(document: dict[str, Any]) -> None:
        answers.write(json.dumps(document, default=repr) + "\n")
        answers.flush()

    try:
        import index  # type: ignore[import-not-found]  # noqa: PLC0415 - the packaged handler, after the hook
    except BaseException as exc:  # an import error is an answer too (to whatever comes first): it is reported
        answer({"ok": False, "error": _describe(exc), "stage": "import"})
        return 1
    if not callable(getattr(index, "handler", None)):
        answer({"ok": False, "error": "index.handler is missing or not callable", "stage": "import"})
        return 1
    for counter, line in enumerate(sys.stdin, 1):
        command = json.loads(line)
        op = command.get("op")
        context = Context(f"1-package-trace-{counter:04d}")
        try:
            if op == "ready":
                answer({"ok": True, "index": os.path.realpath(index.__file__)})
            elif op == "initialize":
                index.initialize(context)
                answer({"ok": True})
            elif op == "invoke":
                result = index.handler(json.dumps(command["event"]).encode(), context)
                answer({"ok": True, "answer": result})
            elif op == "trace":
                answer({"ok": True, "trace": _trace(build, prefix, standard, attempted, opened, importers)})
                return 0
            else:
                answer({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as exc:
            answer({"ok": False, "error": _describe(exc)})
    return 0


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit(os.sep, 2)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _importer(prefix: str, top: str) -> str:
    """The build-folder file, outside the package being imported, whose code imports it (innermost frame)."""
    own = (prefix + top + os.sep, prefix + top + ".py")
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(prefix) and not filename.startswith(own):
            return filename[len(prefix) :]
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def _trace(
    build: str, prefix: str, standard: tuple[str, ...], attempted: set[str], opened: set[str],
    importers: dict[str, str],
) -> dict[str, Any]:
    modules = {name: module for name, module in list(sys.modules.items()) if module is not None}
    loaded: dict[str, str] = {}
    foreign: list[str] = []
    for name, module in modules.items():
        origin = getattr(module, "__file__", None)
        if isinstance(origin, str) and os.path.realpath(origin).startswith(prefix):
            loaded[name] = os.path.realpath(origin)[len(prefix) :]
            continue
        if name != "__main__" and isinstance(origin, str) and not os.path.realpath(origin).startswith(standard):
            foreign.append(name)  # (__main__ is this script)
        for folder in list(getattr(module, "__path__", None) or []):  # namespace packages have no __file__
            if isinstance(folder, str) and os.path.realpath(folder).startswith(prefix):
                loaded[name] = os.path.realpath(folder)[len(prefix) :]
                break
    tops = {name.partition(".")[0] for name in loaded}
    failed: dict[str, str | None] = {}
    for name in sorted(attempted - set(modules)):
        failed[name] = _would_load(name, modules, build, prefix)
    return {
        "loaded": dict(sorted(loaded.items())),
        "failed": failed,
        "opened": sorted(opened),
        "importers": {top: importers[top] for top in sorted(importers) if top in tops},
        "modules": sorted(modules),
        "foreign": sorted(foreign),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
    }


def _would_load(name: str, modules: dict[str, Any], build: str, prefix: str) -> str | None:
    """The build-folder file a failed import would load, found without importing anything."""
    parent, _, _ = name.rpartition(".")
    if parent:
        package = modules.get(parent)
        search = list(getattr(package, "__path__", None) or []) if package is not None else []
        if not search:
            return None
    else:
        search = [build]
    spec = importlib.machinery.PathFinder.find_spec(name, search)
    origin = spec.origin if spec is not None else None
    if origin and os.path.realpath(origin).startswith(prefix):
        return os.path.realpath(origin)[len(prefix) :]
    return None


if __name__ == "__main__":
    sys.exit(main())
