"""tools/localstack.py: the local stack's recorded settings are its owner's alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tools.localstack import TAKEN, acquire_stack_lock, release_stack_lock, write_private


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


def test_the_data_directory_the_stack_lock_makes_is_its_owner_s_only(tmp_path: Path) -> None:
    """It holds the secrets, the databases and the objects (each 0600 itself): 0700 whatever the umask."""
    previous = os.umask(0o022)
    try:
        data = tmp_path / ".kyc-data"
        assert acquire_stack_lock(data, wait=0) == TAKEN
        release_stack_lock(data)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
