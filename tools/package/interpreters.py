"""Finding an interpreter of a given Python version on this machine (FC's runtime is python3.10).

Looked for in order: this interpreter when it is that version, ``python3.X`` on PATH, then pyenv's installed
versions (pyenv keeps unselected versions off PATH, and its shim refuses them). ``./scripts/package`` compiles,
traces and verifies with it; ``./scripts/bench`` runs the unpacked packages with it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

_PROBE = "import sys; print('%d.%d' % sys.version_info[:2])"


def version_of(python: str) -> str | None:
    """``"X.Y"`` of the interpreter at ``python``, or None when it does not run."""
    try:
        result = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def candidates(python_version: str) -> list[str]:
    """Where an interpreter of ``python_version`` may be, best first (not checked yet)."""
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{python_version}.*/bin/python{python_version}"), reverse=True)
    found = [
        sys.executable if f"{sys.version_info[0]}.{sys.version_info[1]}" == python_version else "",
        shutil.which(f"python{python_version}") or "",
        *(str(p) for p in pyenv),
    ]
    return [c for c in found if c]


def find_python(python_version: str) -> str | None:
    """The first candidate that really is ``python_version``, or None."""
    return next((c for c in candidates(python_version) if version_of(c) == python_version), None)
