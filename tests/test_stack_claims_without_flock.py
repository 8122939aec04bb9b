"""Who may start a stack on a data directory, and ./scripts/test's oracle download (found by review, each
test failing first): a second stack of the same process on a filesystem without flock, a TMPDIR mktemp cannot use."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.status import Status
from tests.fakes import make_record
from tests.test_dev_leftovers import data_dir, store
from tests.test_stack_lock_ownership import _checkout_with_a_read_only_venv
from tools.localstack import running_stack

__all__ = ["data_dir"]  # the fixture


def _dev_stack() -> object:
    from tools.devstack.dev import DevConfig, DevStack

    # Each its own environment (as an embedding tool gives it): the first's sandbox endpoint is not the second's.
    return DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05), env=dict(os.environ))


def test_without_flock_a_second_stack_of_the_same_process_is_refused_and_leaves_the_first_s_rows_alone(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ae02a6d: "a second stack in the same process is refused too". With flock that holds (``HELD_ALREADY``); on a
    data directory without flock (NFS without lockd: ENOLCK) ``acquire_stack_lock`` answers ``UNSUPPORTED`` and
    ``_claim_data_dir`` owns the directory when the stack file's live process is *this one*, a rule meant for a
    killed stack's file whose id was reused by this process (a container's PID 1). It cannot tell that file from
    the file of a stack this very process runs now (tests, ``tools/loadtest``, an embedding tool): the second stack
    starts, takes itself for the owner, abandons the first stack's PENDING rows at once (``_abandon_forgotten``:
    the first's sandbox still knows them, they can still finish), replaces its file, and when it stops removes the
    file (its pid is this process's), so the first stack, still running, is invisible to ``./scripts/kyc``.
    The process's own running stacks should be known in the process (e.g. a claim registry kept also without
    flock), so a second one is refused as it is with flock."""
    from tools import localstack
    from tools.devstack.dev import StartError

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(localstack, "fcntl", SimpleNamespace(
        flock=no_flock, LOCK_EX=fcntl.LOCK_EX, LOCK_SH=fcntl.LOCK_SH, LOCK_NB=fcntl.LOCK_NB))
    first = _dev_stack()
    first.start()  # type: ignore[attr-defined]
    try:
        record = make_record()
        store(data_dir).create(record)  # a verification the first stack's sandbox knows: it can still finish
        second = _dev_stack()
        try:
            with pytest.raises(StartError, match="another stack in this process"):
                second.start()  # type: ignore[attr-defined]
        finally:
            second.stop()  # type: ignore[attr-defined]
        row = store(data_dir).get(record.merchant_biz_id)
        assert row is not None and row.status is Status.PENDING, "the running stack's row was abandoned"
        assert running_stack(data_dir) is not None, "the running stack became invisible"
    finally:
        first.stop()  # type: ignore[attr-defined]


def test_scripts_test_still_lints_and_tests_when_mktemp_cannot_create_pip_s_log(tmp_path: Path) -> None:
    """ae02a6d moves pip's log to ``log="$(mktemp)"``, outside the ``if`` that turns every failure of the download
    into a warning, and ``scripts/_venv.sh`` sets ``-euo pipefail``: where ``mktemp`` fails (``TMPDIR`` naming a
    directory that is gone or not writable: a stale ``TMPDIR`` of a tmux session, a sandboxed CI job) a checkout
    without the oracle wheels stops right there with exit 1 and only "mktemp: failed to create file", running
    neither ruff nor mypy nor pytest, although pytest itself would run (Python's ``tempfile`` falls back to /tmp;
    ``mktemp`` does not). The commit's own rule: "any failure ... warns and goes on". The log's creation belongs in
    the guarded branch (or a failed ``mktemp`` falls back to no log)."""
    root = tmp_path / "checkout"
    _checkout_with_a_read_only_venv(root)  # writable here: only TMPDIR is unusable
    run = subprocess.run(
        ["bash", str(root / "scripts" / "test"), "--version"], check=False, capture_output=True, text=True,
        timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1",
                          "TMPDIR": str(tmp_path / "gone")},
    )
    assert "== pytest" in run.stdout, run.stderr
    assert "downloading the ROS CDK wheels failed" in run.stderr
