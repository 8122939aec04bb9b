"""docs/security.md names the test of every control; each named test exists, so the threat model cannot drift
silently from the suite (a renamed or deleted test fails here)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "security.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_test_the_threat_model_names_exists() -> None:
    references = REFERENCE.findall(DOC.read_text())
    assert len(references) > 50
    missing = [f"{file}::{name}" for file, name in references
               if not (ROOT / file).is_file() or name not in _test_functions(ROOT / file)]  # fmt: skip
    assert missing == []


def test_every_threat_row_names_a_test_or_is_marked_open() -> None:
    section = DOC.read_text().split("## Threats, controls and tests", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    threats = [row for row in rows if not row.startswith(("| threat", "| ---"))]
    assert len(threats) > 30
    unnamed = [row[:60] for row in threats if not REFERENCE.search(row) and "**open**" not in row]
    assert unnamed == []
