"""Who owns the data directory's lock, and ./scripts/test when the oracle cannot be stored (found by review, each
test failing first): a reused process id, a stack that never started, a filesystem without flock, a read-only venv."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from shared import jsonutil
from shared.status import Status
from tests.fakes import make_record
from tests.test_dev_leftovers import data_dir, store
from tools.localstack import LOCK_FILE, STACK_FILE, running_stack

__all__ = ["data_dir"]  # the fixture


@pytest.fixture
def other_process() -> Iterator[int]:
    """The process id of a live process that is no stack (what a killed stack's id may name by now)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def _dev_stack() -> object:
    from tools.devstack.dev import DevConfig, DevStack

    return DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05))


def test_a_killed_stack_s_file_naming_a_reused_process_id_does_not_keep_the_next_start_from_abandoning_its_rows(
    data_dir: Path, other_process: int
) -> None:
    """A stack killed hard (SIGKILL, a closed terminal, ``docker kill``) leaves ``local-stack.json`` and its rows
    PENDING; by the next start its process id may name another program (in a container the new stack often gets
    the very same id). ``running_stack`` rightly ignores such a file, because no process holds the lock (the module
    docstring: "the process id alone cannot tell a live stack"). But since d7c2a02 ``start`` takes the lock *before*
    ``_abandon_forgotten`` asks ``running_stack``, and ``_locked`` answers True for a lock this process holds: the
    dead stack's file then passes on its process id alone, the start believes another stack still runs, and the
    rows its sandbox forgot stay PENDING (the sweeper asks the new sandbox about them in vain until
    ``KYC_ABANDON_AFTER``; the banner says nothing). Before d7c2a02 the lock was taken after this check and the rows
    were abandoned. The check should not count the lock this very start took (e.g. ``start`` remembers whether it
    took the lock afresh: then no other stack holds it, whatever a file says)."""
    record = make_record()
    store(data_dir).create(record)
    (data_dir / STACK_FILE).write_bytes(jsonutil.dumps({"pid": other_process, "env": {}}))  # the killed stack's
    assert running_stack(data_dir) is None, "the CLI rightly sees no stack here"
    dev = _dev_stack()
    try:
        dev.start()  # type: ignore[attr-defined]
        row = store(data_dir).get(record.merchant_biz_id)
        assert row is not None and row.status is Status.ABANDONED, "left PENDING: the dead stack was taken as live"
        assert dev.forgotten == 1  # type: ignore[attr-defined]
    finally:
        dev.stop()  # type: ignore[attr-defined]


def _running_stack_seen_from_another_process(directory: Path) -> bool:
    """``running_stack`` as ``./scripts/kyc`` (its own process) answers it."""
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from tools.localstack import running_stack\n"
         "print(running_stack(Path(sys.argv[1])) is not None)", str(directory)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return probe.stdout.strip() == "True"


def test_stopping_a_stack_that_never_started_leaves_the_running_stack_s_lock_alone(data_dir: Path) -> None:
    """The lock is the process's (``_HELD``, one entry per directory), not the stack's: ``DevStack.stop`` calls
    ``release_stack_lock`` unconditionally, so a ``DevStack`` that never started (or whose ``stop`` runs a second
    time, or whose start failed in a ``try``/``finally`` as ``main`` and the tests write it) lets go of the lock
    another ``DevStack`` of the same process holds on the same data directory (tests, ``tools/loadtest``, an embedding
    tool). That stack goes on running with its file in place, but ``running_stack`` from any other process now
    answers None: ``./scripts/kyc`` says "no ./scripts/dev stack is running", and a second ``./scripts/dev`` starts
    on the directory (and abandons the running one's PENDING rows). ``stop`` should release only a lock its own
    ``start`` took (and a second stack of the same process should not count as holding it)."""
    running = _dev_stack()
    running.start()  # type: ignore[attr-defined]
    try:
        assert _running_stack_seen_from_another_process(data_dir)
        never_started = _dev_stack()
        never_started.stop()  # type: ignore[attr-defined]
        assert _running_stack_seen_from_another_process(data_dir), "the running stack became invisible"
    finally:
        running.stop()  # type: ignore[attr-defined]


def test_on_a_filesystem_without_flock_a_second_stack_is_refused_on_the_first_one_s_process_id(
    data_dir: Path, other_process: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """d7c2a02: "filesystems without flock fall back to the process id" (``acquire_stack_lock`` answers True on an
    error other than contention, ``_locked`` True). ``running_stack`` does fall back; ``DevStack.start`` does not: it
    consults only ``acquire_stack_lock``, which there always succeeds, and the process-id check it replaced is gone.
    So on such a data directory (NFS without lockd: ENOLCK) two ``./scripts/dev`` run on one directory, the second
    replaces the first's file and abandons its PENDING rows, which is what the lock was added to prevent (before
    d7c2a02 the start at least refused: the flock error escaped). Without flock the start should refuse a live
    stack's file of another process, as it did before the lock."""
    from tools import localstack
    from tools.devstack.dev import StartError

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(localstack, "fcntl", SimpleNamespace(
        flock=no_flock, LOCK_EX=fcntl.LOCK_EX, LOCK_SH=fcntl.LOCK_SH, LOCK_NB=fcntl.LOCK_NB))
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / LOCK_FILE).touch()  # the first stack's files
    (data_dir / STACK_FILE).write_bytes(jsonutil.dumps({"pid": other_process, "env": {}}))
    assert running_stack(data_dir) is not None, "the CLI sees the first stack by its process id"
    dev = _dev_stack()
    try:
        with pytest.raises(StartError, match=r"another \./scripts/dev"):
            dev.start()  # type: ignore[attr-defined]
    finally:
        dev.stop()  # type: ignore[attr-defined]


def _checkout_with_a_read_only_venv(root: Path) -> Path:
    """A checkout whose ``scripts/test`` and ``scripts/_venv.sh`` are this one's, whose ``.venv`` is the shared venv's
    packages behind a directory no one may write (a venv provided read-only: an image's, another user's), with its
    stamp in place, the oracle wheels not downloaded, and ruff, mypy and chromium standing in (only the script's
    own steps are under test)."""
    project = Path(__file__).resolve().parents[1]
    (root / "scripts").mkdir(parents=True)
    for name in ("test", "_venv.sh"):
        (root / "scripts" / name).write_bytes((project / "scripts" / name).read_bytes())
    (root / "scripts" / "ensure-chromium").write_text("#!/bin/sh\nexit 0\n")
    for name in ("requirements.txt", "requirements-dev.txt"):
        (root / name).write_bytes((project / name).read_bytes())
    for name in ("tools", "shared", "tests"):
        (root / name).symlink_to(project / name)
    venv = root / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_bytes((Path(sys.prefix) / "pyvenv.cfg").read_bytes())
    (venv / "lib").symlink_to(Path(sys.prefix) / "lib")
    (venv / "bin" / "python").symlink_to(sys.executable)
    for tool in ("ruff", "mypy"):
        (venv / "bin" / tool).write_text(f"#!/bin/sh\necho {tool} stands in\n")
    for path in [*(root / "scripts").iterdir(), venv / "bin" / "ruff", venv / "bin" / "mypy"]:
        path.chmod(0o755)
    requirements = (root / "requirements.txt").read_bytes() + (root / "requirements-dev.txt").read_bytes()
    stamp = f"{hashlib.sha256(requirements).hexdigest()[:16]}-{sys.version_info[0]}.{sys.version_info[1]}"
    checkout = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    (venv / f".kyc-requirements-stamp-{checkout}").write_text(stamp + "\n")
    return venv


def test_scripts_test_still_lints_and_tests_when_the_oracle_directory_cannot_be_created(tmp_path: Path) -> None:
    """8c0fecb adds ``mkdir -p "$VENV/oracles"`` (for pip's log file) before the download, unguarded, and
    ``scripts/_venv.sh`` sets ``-euo pipefail``: where ``.venv`` cannot be written (a read-only venv, another user's,
    an image's), ``./scripts/test`` now stops right there with exit 1 and only "mkdir: cannot create directory",
    running neither ruff nor mypy nor pytest. Before, the failed download was a warning
    ("tests/test_template_ros_schema.py will fail") and everything else ran. The log belongs somewhere writable
    (``mktemp``), and a failure to make the directory should end in the same warning."""
    root = tmp_path / "checkout"
    venv = _checkout_with_a_read_only_venv(root)
    as_root = os.geteuid() == 0
    if as_root:  # permissions do not stop root: an immutable directory does
        if subprocess.run(["chattr", "+i", str(venv)], check=False, capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available here to make .venv unwritable for root")
    else:
        venv.chmod(0o555)
    try:
        run = subprocess.run(
            ["bash", str(root / "scripts" / "test"), "--version"], check=False, capture_output=True, text=True,
            timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1"},
        )
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(venv)], check=True)
        else:
            venv.chmod(0o755)
    assert "== pytest" in run.stdout, run.stderr
    assert "downloading the ROS CDK wheels failed" in run.stderr


def test_a_start_forgets_a_dead_stack_s_file_as_soon_as_it_holds_the_lock(data_dir: Path, other_process: int) -> None:
    """Until the new stack writes its own file at the end of its start, the dead one's named a process id that may
    be another program's by now: ``./scripts/dev --stop`` in that window signalled it (review bu)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / STACK_FILE).write_bytes(jsonutil.dumps({"pid": other_process, "env": {}}))  # the killed stack's
    dev = _dev_stack()
    try:
        dev._claim_data_dir()  # type: ignore[attr-defined]  # the start's first step
        assert not (data_dir / STACK_FILE).exists()
    finally:
        dev.stop()  # type: ignore[attr-defined]
