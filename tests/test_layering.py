"""What each package may import (docs/architecture.md, "Layers"), read from the code's own import statements.

Every import counts, also those inside functions (lazy imports are still dependencies); only ``if TYPE_CHECKING:``
blocks are left out. ``from package import submodule`` depends on the submodule, not on the package's body.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "tools", "functions")

#: Layer of every module of ``shared`` (by its top name under shared); lower layers never import higher ones.
FOUNDATION = {"jsonutil", "lazy", "values", "config", "log", "redaction", "ids", "status", "doctypes", "products",
              "urls", "subcodes", "timestamps", "disclosure", "signing", "messages", "callback",
              "http_deadline", "http_pool", "parallel", "webhook_retries", "fetch_settings"}  # fmt: skip
ADAPTERS = {"fc", "cloudauth", "results", "storage", "delivery", "webhooks", "auth"}
SERVICES = {"verifications", "fetcher", "notifications", "sweeper", "ratelimit"}
COMPOSITION = {"wiring"}
HANDLERS = {"handlers"}
LAYERS = [FOUNDATION, ADAPTERS, SERVICES, COMPOSITION, HANDLERS]
LAYER_NAMES = ["foundation", "adapters", "services", "composition", "handlers"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _without_type_checking_blocks(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = [ast.Pass()]
    return tree


def _resolve(name: str) -> str | None:
    """The project module ``name`` lands in (``shared.storage.StorageError`` -> ``shared.storage``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules():
            return candidate
    return None


@cache
def imports_of(module: str) -> frozenset[str]:
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = _without_type_checking_blocks(ast.parse(path.read_text(encoding="utf-8")))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            submodules = [f"{source}.{alias.name}" for alias in node.names]
            names = submodules if all(s in modules() for s in submodules) else [source, *submodules]
        found |= {target for target in map(_resolve, names) if target is not None and target != module}
    return frozenset(found)


def _layer(module: str) -> int:
    top = module.split(".")[1] if module.count(".") else ""
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layering.py and docs/architecture.md")


def shared_modules() -> list[str]:
    return sorted(m for m in modules() if m.startswith("shared.") and m != "shared")


def test_the_probe_sees_the_imports() -> None:
    assert "shared.storage" in imports_of("shared.fetcher")
    assert "shared.fetcher" in imports_of("shared.wiring")  # imported inside build_fetcher
    assert "shared.fc.errors" in imports_of("shared.fc.http")  # a relative import


@pytest.mark.parametrize("module", shared_modules())
def test_shared_modules_import_only_their_own_layer_or_below(module: str) -> None:
    own = _layer(module)
    higher = sorted(
        f"{target} ({LAYER_NAMES[_layer(target)]})"
        for target in imports_of(module)
        if target.startswith("shared.") and _layer(target) > own
    )
    assert not higher, f"{module} ({LAYER_NAMES[own]}) imports a higher layer"


@pytest.mark.parametrize("module", shared_modules())
def test_shared_never_imports_tools_functions_or_a_handler_module(module: str) -> None:
    forbidden = sorted(
        target
        for target in imports_of(module)
        if target.startswith(("tools", "functions"))
        or (target.startswith("shared.handlers.") and not module.startswith("shared.handlers"))
    )
    assert not forbidden
    if module.startswith("shared.handlers."):  # one handler never imports another
        assert not [t for t in imports_of(module) if t.startswith("shared.handlers.")]


@pytest.mark.parametrize("module", sorted(m for m in modules() if m.startswith("functions.")))
def test_function_entry_points_import_only_their_handler(module: str) -> None:
    assert all(target.startswith("shared.handlers.") for target in imports_of(module))


def _cycles() -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph = {m: sorted(imports_of(m)) for m in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if child < len(graph[node]):
                work.append((node, child + 1))
                target = graph[node][child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            for target in graph[node]:
                if target in on_stack:
                    low[node] = min(low[node], low[target])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield sorted(component)


def test_no_import_cycles_in_shared_tools_or_functions() -> None:
    assert list(_cycles()) == []
