"""The running stack's lock and the sub-code table's verdict rule, read by every reader (found by review, each test
failing first): a tool probing the lock as a stack takes it, two stacks starting at once, the console's meaning."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.test_dev_leftovers import data_dir
from tools.localstack import LOCK_FILE, remove_stack_file, running_stack, write_stack_file

__all__ = ["data_dir"]  # the fixture


def test_a_tool_probing_the_lock_while_the_stack_takes_it_does_not_hide_the_stack_for_its_whole_run(
    tmp_path: Path,
) -> None:
    """Every ``running_stack`` call outside the stack (``./scripts/kyc``, its console and doctor, a second
    ``./scripts/dev``'s start check) takes a shared flock on ``local-stack.lock`` for a moment (``_locked``). The
    lock file outlives every stop, so such a probe can overlap the moment a starting stack takes its exclusive
    lock (``write_stack_file`` -> ``_hold_lock``, ``LOCK_NB``): ``_hold_lock`` then gives up in silence, assuming
    "another live stack holds it", and the stack runs without the lock. From then on ``running_stack`` answers
    None for the whole run: every CLI command says "no ./scripts/dev stack is running", and a second
    ``./scripts/dev`` on the same data directory starts and abandons this stack's PENDING rows (its sandbox still
    knows them). A reader's probe lasts microseconds: the stack should retry briefly (here it ends after 0.2 s)
    rather than run unlocked."""
    data = tmp_path / "data"
    data.mkdir()
    (data / LOCK_FILE).touch()  # an earlier run's: the file stays after a stop
    probe = os.open(data / LOCK_FILE, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a CLI's _locked() at that moment
    released = threading.Timer(0.2, os.close, (probe,))
    released.start()
    try:
        write_stack_file(data, {}, sandbox_running=True)
        released.join()
        stack = running_stack(data)
        assert stack is not None and stack.pid == os.getpid()
    finally:
        released.join()
        remove_stack_file(data)


def test_a_stack_starting_while_another_holds_the_data_directory_s_lock_refuses_to_start(data_dir: Path) -> None:
    """Two ``./scripts/dev`` started together on one data directory (two terminals, a script and a person) both
    pass the start's ``running_stack`` check: neither has written its file yet, and the lock is taken only at the
    end of ``start`` (``write_stack_file``), seconds later. The second to get there finds the lock held, goes on
    in silence (``_hold_lock``: "./scripts/dev refuses to start before this", which it did not) and replaces the
    first's file with its own pid. When the first stops it releases the lock and leaves the file (not its own):
    the second stack still runs, but ``running_stack`` answers None, the CLI finds no stack, and a third
    ``./scripts/dev`` starts and abandons the second's PENDING rows. The lock is what tells a live stack: taken
    first thing in ``start`` (a reader's probe retried past), held by another it should refuse the start."""
    from tools.devstack.dev import DevConfig, DevStack, StartError

    data_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(  # the other stack, between its own check and its file
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)",
         str(data_dir / LOCK_FILE)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        dev = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05))
        try:
            with pytest.raises(StartError, match=r"another \./scripts/dev"):
                dev.start()
        finally:
            dev.stop()
    finally:
        holder.kill()
        holder.wait()


def test_the_console_states_no_meaning_for_a_sub_code_next_to_a_verdict_its_source_does_not_show(
    tmp_path: Path,
) -> None:
    """a948614 makes ``sub_code_message`` state a code's meaning only next to the verdict its source shows it with
    (``SubCode.verdict``: "a sample seen with one verdict says nothing of the code with the other"). But
    ``sub_code_meaning``, the table's other reader, still ignores the verdict, and the console's "Failures by sub
    code" table shows only it (``tools/ops/console.py``, ``_failures``): failed verifications with sub code 200 are
    listed as meaning "passed", while the same row's message says the meaning is not documented with this verdict.
    ``ParsedResult.sub_code_description`` (``shared/results``) reads the same way: a CheckResult with ``Passed: Y``
    and 205 (the EkycVerify sample's pair) is "liveness check failed, a possible presentation attack", exactly what
    the commit says no longer happens. One home: the meaning with the verdict, or none."""
    from shared.status import Status
    from shared.storage import StorageSettings, TransactionRecord, open_stores
    from tools.ops import insights

    now = 1_764_496_800.0
    stores = open_stores(StorageSettings(backend="local", data_dir=tmp_path / "data"))
    stores.transactions.create(TransactionRecord(
        merchant_biz_id="f1", transaction_id="tf1", merchant_user_id="0" * 64, doc_type="01000000",
        status=Status.FAILED, passed="N", sub_code="200", created_at=now - 100, updated_at=now - 96,
        finalized_at=now - 96, notification_enqueued=True,
    ))  # fmt: skip
    (failure,) = insights.overview(stores.transactions, insights.period_of("24h", now)).failures
    assert failure.message == ("The verification did not pass (sub code 200; its meaning with this verdict is not "
                               "documented).")
    assert failure.meaning != "passed"
