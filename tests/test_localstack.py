"""tools/localstack.py: the local stack's recorded settings are its owner's alone."""

from __future__ import annotations

import stat
from pathlib import Path

from tools.localstack import write_private


def test_a_private_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secrets.json"
    write_private(path, b"{}")
    assert path.read_bytes() == b"{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_file_with_a_wider_mode_is_narrowed_when_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_bytes(b"old, and longer than the new content")
    path.chmod(0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
