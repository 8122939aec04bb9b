"""A COMMIT that fails with an error after which SQLite has already rolled the transaction back itself
(SQLITE_IOERR / SQLITE_FULL: "Response To Errors Within A Transaction", sqlite.org/lang_transaction.html).

A ROLLBACK answering it then raises ``sqlite3.OperationalError("cannot rollback - no transaction is active")``,
which escaped instead of the ``StorageError`` every store call promises (found by review an).

The failure is real SQLite, not a fake: the child process caps its file size (RLIMIT_FSIZE, a full disk or a quota
in miniature) just above the WAL's size, so the WAL frames written at COMMIT fail with "disk I/O error".
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE + SIGXFSZ (Linux)")

ROOT = Path(__file__).resolve().parents[2]

_CHILD = textwrap.dedent(
    """
    import os, resource, signal, sys
    sys.path.insert(0, {root!r})
    from shared.storage._sqlite import SqliteDatabase
    from shared.storage.sqlite_queue import SqliteQueue

    folder = sys.argv[1]
    which = sys.argv[2]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us

    def cap() -> None:
        wal = os.path.join(folder, "x.db-wal")
        size = os.path.getsize(wal) if os.path.exists(wal) else 0
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64 * 1024, resource.RLIM_INFINITY))

    try:
        if which == "transaction":
            db = SqliteDatabase(os.path.join(folder, "x.db"), 7,
                                lambda c: c.execute("CREATE TABLE IF NOT EXISTS t (v BLOB)"))
            cap()
            with db.transaction() as conn:
                conn.execute("PRAGMA cache_size = -100000")  # nothing spills before COMMIT
                conn.execute("INSERT INTO t VALUES (zeroblob(1000000))")
        else:
            queue = SqliteQueue(os.path.join(folder, "x.db"), "q")
            for _ in range(10):
                queue.send(os.urandom(40_000))
            cap()
            queue.receive(max_messages=10, visibility_timeout=30)
        print("NO-ERROR")
    except BaseException as exc:
        print(f"{{type(exc).__module__}}.{{type(exc).__qualname__}}: {{exc}}")
    """
).format(root=str(ROOT))


def _run(tmp_path: Path, which: str) -> str:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), which], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_commit_that_sqlite_rolled_back_itself_raises_storage_error(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "transaction")
    assert outcome != "NO-ERROR", "the file-size cap did not make COMMIT fail: the test proves nothing here"
    assert outcome.startswith("shared.storage.errors.StorageError"), outcome


def test_queue_receive_on_a_full_disk_raises_storage_error(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "queue")
    assert outcome != "NO-ERROR", "the file-size cap did not make COMMIT fail: the test proves nothing here"
    assert outcome.startswith("shared.storage.errors.StorageError"), outcome
