"""Operator commands of ./scripts/kyc against the local backend (DevStack + sandbox) and, for the dead-letter
queue, against MNS at the wire (a local server that re-checks every signature with the official ``mns`` SDK)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mns.auth import Credentials as MnsCredentials
from mns.mns_client import MNSClient

from shared import jsonutil
from shared.cloudauth import (
    AuthError,
    CloudAuthClient,
    CloudAuthSettings,
    ProcessNotCompleted,
    ServerError,
    TransactionIdInvalid,
)
from shared.delivery import DeliveryResult
from shared.ids import RESULT_DOCUMENT, answer_prefix
from shared.notifications import Notifier, Subscriber, WebhookSettings
from shared.signing import Credentials
from shared.storage import (
    MnsQueue,
    SqliteQueue,
    StorageError,
    StorageSettings,
    TransactionRecord,
    encode_message_body,
    open_object_store,
    open_queue,
    open_transaction_store,
)
from shared.sweeper import OUTBOX_WINDOW_SECONDS
from shared.timestamps import rfc3339
from shared.values import replace
from tests.conftest import ROOT
from tests.fakes import T0, FakeClock, FakeCloudAuth
from tests.fakes import Stack as FakeStack
from tests.sandbox.helpers import control
from tests.test_fc_invoke import EVENTS, complete, stack, start_verification
from tools.devstack.dev import DevStack, QuietIdleSweeps
from tools.devstack.worker import QueueWorker, Subscription
from tools.ops import dlq, kyc, transactions
from tools.ops.common import Context, OpsError, UsageError
from tools.ops.dlq import RECEIVE_BATCH

__all__ = ["stack"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(args: list[str], env: dict[str, str] | None = None, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(args, env=dict(os.environ) if env is None else env, stdout=out, stderr=err,
                    stdin=stdin or io.StringIO())
    return code, out.getvalue(), err.getvalue()


def lines(out: str) -> list[dict[str, Any]]:
    return [jsonutil.loads(line) for line in out.splitlines() if line.strip()]


def finalized(dev: DevStack, user: str = "alice") -> dict[str, Any]:
    created = start_verification(dev, user)
    complete(dev, created["transactionId"])
    code, _, err = run(["refetch", created["merchantBizId"]])
    assert code == 0, err
    return created


# --- the commands over fake stores (tests.fakes.Stack): what a DevStack cannot arrange --------------------------------


def _on_fakes(fakes: FakeStack, vendor: FakeCloudAuth | None = None, *, transactions_store: Any = None,
              recheck: Any = None) -> tuple[Context, io.StringIO, io.StringIO]:
    queues = {"recheck": recheck or fakes.recheck, "notify": fakes.notify, "deadletter": fakes.deadletter}
    stores = SimpleNamespace(transactions=transactions_store or fakes.store, objects=fakes.objects,
                             queue=queues.__getitem__)
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(env={}, stdout=out, stderr=err, stdin=io.StringIO(),
                  client_factory=lambda env: vendor or FakeCloudAuth(),  # type: ignore[arg-type,return-value]
                  stores_factory=lambda env: stores,  # type: ignore[arg-type,return-value]
                  clock=fakes.clock)
    return ctx, out, err


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[FakeStack]:
    s = FakeStack(tmp_path)
    yield s
    s.close()


def _list(fakes: FakeStack, *argv: str) -> tuple[list[str], str]:
    ctx, out, err = _on_fakes(fakes)
    assert transactions.run_list(kyc.build_parser().parse_args(["list", *argv]), ctx) == 0
    return [row["merchantBizId"] for row in lines(out.getvalue())], err.getvalue()



# --- status ------------------------------------------------------------------------------------------------


def test_status_prints_the_row_with_only_the_masked_identity(stack: DevStack) -> None:
    created = finalized(stack)
    code, out, err = run(["status", created["merchantBizId"]])
    assert code == 0, err
    view = jsonutil.loads(out)
    assert view["status"] == "PASSED" and view["transactionId"] == created["transactionId"]
    assert "callbackTokenHash" not in view and "callback_token_hash" not in out
    document = jsonutil.loads(open_object_store(StorageSettings.from_env()).get(view["resultKey"]))
    full = document["result"]["identity"]
    assert view["identity"] and view["identity"] != full
    clear = [str(full[key]) for key in ("documentNumber", "fullName", "birthDate") if full.get(key)]
    assert len(clear) == 3 and all(value not in out for value in clear)  # review bf: it named a key no identity has


def test_status_of_an_unknown_transaction_exits_1_naming_not_found(stack: DevStack) -> None:
    code, out, err = run(["status", "nosuchtransaction"])
    assert code == 1 and out == "" and "error: NotFound:" in err


def test_status_rejects_a_malformed_merchant_biz_id_with_exit_2(stack: DevStack) -> None:
    code, out, err = run(["status", "../../etc/passwd"])
    assert code == 2 and out == "" and "merchantBizId must be" in err.splitlines()[-1]  # argparse's message


def test_status_says_whether_the_vendor_s_copy_is_deleted(fakes: FakeStack) -> None:
    record = fakes.pending(status="PASSED", passed="Y", finalized_at=T0, vendor_copy_deleted=True)
    ctx, out, _ = _on_fakes(fakes)
    assert transactions.run_status(kyc.build_parser().parse_args(["status", record.merchant_biz_id]), ctx) == 0
    assert jsonutil.loads(out.getvalue())["vendorCopyDeleted"] is True


def test_status_of_a_product_that_verifies_no_document_shows_a_null_document_type(fakes: FakeStack) -> None:
    record = fakes.pending(doc_type="", product_code="FACE_LIVENESS_PRO")
    ctx, out, _ = _on_fakes(fakes)
    assert transactions.run_status(kyc.build_parser().parse_args(["status", record.merchant_biz_id]), ctx) == 0
    assert jsonutil.loads(out.getvalue())["docType"] is None

# --- refetch -----------------------------------------------------------------------------------------------


def test_refetch_finalizes_a_pending_transaction_whose_callback_never_came(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    code, out, err = run(["refetch", created["merchantBizId"]])
    assert code == 0, err
    assert jsonutil.loads(out)["outcome"] == "finalized"
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]).status == "PASSED"  # type: ignore[union-attr]


def test_refetch_of_a_final_transaction_says_it_is_final_and_fetches_nothing(stack: DevStack) -> None:
    created = finalized(stack)
    code, out, err = run(["refetch", created["merchantBizId"]])
    assert code == 0 and jsonutil.loads(out) == {"merchantBizId": created["merchantBizId"],
                                                 "outcome": "already_final", "status": "PASSED"}
    assert "already final (PASSED)" in err


def test_refetch_of_a_still_pending_transaction_reports_pending(stack: DevStack) -> None:
    created = start_verification(stack)
    code, out, _ = run(["refetch", created["merchantBizId"]])
    answer = jsonutil.loads(out)
    assert (code, answer["outcome"], answer["status"]) == (0, "pending", "PENDING")  # the row's, not null


def test_refetch_whose_check_result_the_vendor_refuses_exits_1(stack: DevStack) -> None:
    """Nothing was fetched: a script that retries after fixing the credentials must not read this as done."""
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    assert stack.sandbox is not None
    plan = {"callbacks": {"drop": True},
            "operations": {"CheckResult": {"sequence": ["Forbidden.RAMUserAccessDenied"] * 5}}}  # fmt: skip
    assert control(stack.sandbox, "POST", "faults", plan).status == 200
    code, out, err = run(["refetch", created["merchantBizId"]])
    answer = jsonutil.loads(out)
    assert (code, answer["outcome"], answer["error"]) == (1, "retry_later", "Forbidden.RAMUserAccessDenied")
    assert answer["status"] == "PENDING"
    assert "nothing fetched" in err


def test_refetch_of_a_transaction_the_vendor_does_not_know_exits_1(fakes: FakeStack) -> None:
    record = fakes.pending()
    ctx, out, err = _on_fakes(fakes, FakeCloudAuth(TransactionIdInvalid("TransactionId is invalid", status=400)))
    code = transactions.run_refetch(kyc.build_parser().parse_args(["refetch", record.merchant_biz_id]), ctx)
    assert (code, jsonutil.loads(out.getvalue())["outcome"]) == (1, "failed")
    assert "the vendor no longer knows this transaction" in err.getvalue()


def test_refetch_of_a_still_pending_transaction_says_when_it_is_checked_next(fakes: FakeStack) -> None:
    record = fakes.pending()
    ctx, out, _ = _on_fakes(fakes, FakeCloudAuth(ProcessNotCompleted("not yet", status=400)))
    assert transactions.run_refetch(kyc.build_parser().parse_args(["refetch", record.merchant_biz_id]), ctx) == 0
    answer = jsonutil.loads(out.getvalue())
    assert answer["outcome"] == "pending" and answer["nextCheckIn"] > 0


def test_refetch_of_a_pending_transaction_whose_re_check_cannot_be_queued_fails(fakes: FakeStack) -> None:
    record = fakes.pending()

    class RecheckQueueDown:
        def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
            raise StorageError("mns SendMessage failed", transient=True, code="ServiceUnavailable")

    ctx, out, _ = _on_fakes(fakes, FakeCloudAuth(ProcessNotCompleted("not yet", status=400)),
                            recheck=RecheckQueueDown())
    with pytest.raises(OpsError) as refused:
        transactions.run_refetch(kyc.build_parser().parse_args(["refetch", record.merchant_biz_id]), ctx)
    assert refused.value.code == "RecheckNotScheduled" and out.getvalue() == ""

# --- list --------------------------------------------------------------------------------------------------


def test_list_filters_by_status(stack: DevStack) -> None:
    done = finalized(stack)
    pending = start_verification(stack)
    code, out, err = run(["list", "--status", "pending"])
    assert code == 0, err
    assert [r["merchantBizId"] for r in lines(out)] == [pending["merchantBizId"]]
    assert [r["merchantBizId"] for r in lines(run(["list", "--status", "PASSED"])[1])] == [done["merchantBizId"]]


def test_list_since_takes_an_age_or_an_iso_date(stack: DevStack) -> None:
    start_verification(stack)
    start_verification(stack)
    assert len(lines(run(["list", "--since", "1h"])[1])) == 2
    assert lines(run(["list", "--since", "2999-01-01"])[1]) == []
    assert len(lines(run(["list", "--since", "2000-01-01T00:00:00Z"])[1])) == 2


def test_list_stops_at_the_limit_and_says_more_rows_match(stack: DevStack) -> None:
    start_verification(stack)
    start_verification(stack)
    code, out, err = run(["list", "--limit", "1"])
    assert code == 0 and len(lines(out)) == 1 and "more rows match" in err


def test_list_refuses_a_limit_of_zero_with_exit_2() -> None:
    code, out, err = run(["list", "--limit", "0"], env={"PATH": os.environ.get("PATH", "")})
    assert code == 2 and out == "" and "--limit must be between 1 and 10000" in err


def test_list_takes_a_limit_of_ten_thousand(fakes: FakeStack) -> None:
    fakes.pending()
    assert len(_list(fakes, "--limit", "10000")[0]) == 1


def test_list_of_exactly_limit_rows_does_not_say_that_more_match(fakes: FakeStack) -> None:
    fakes.pending(created_at=T0)
    fakes.pending(created_at=T0 + 1)
    listed, err = _list(fakes, "--limit", "2")
    assert len(listed) == 2 and "more rows match" not in err


def test_list_newest_first_lists_the_latest_verification_first(fakes: FakeStack) -> None:
    rows = [fakes.pending(created_at=T0 + i).merchant_biz_id for i in range(3)]
    assert _list(fakes)[0] == rows
    assert _list(fakes, "--newest-first")[0] == rows[::-1]


def test_list_until_leaves_out_what_was_created_at_or_after_it(fakes: FakeStack) -> None:
    early = fakes.pending(created_at=T0).merchant_biz_id
    fakes.pending(created_at=T0 + 3600)
    assert _list(fakes, "--until", rfc3339(T0 + 60) or "")[0] == [early]

@pytest.mark.parametrize("command", [["list"], ["status", "0123456789abcdef0123456789abcdef"], ["dlq", "list"]])
def test_a_command_on_a_data_directory_that_does_not_exist_says_so_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    """A mistyped or unset KYC_DATA_DIR: not an empty system ("no transactions match") and a stray database."""
    absent = tmp_path / "no-such-data-dir"
    code, out, err = run(command, env={"KYC_BACKEND": "local", "KYC_DATA_DIR": str(absent)})
    assert code == 2 and out == "" and "is KYC_DATA_DIR right?" in err  # a setting, as bad usage is
    assert not absent.exists()


def test_a_data_directory_without_a_database_is_no_data_either(tmp_path: Path) -> None:
    """The data directory of a stack on the doubles (they keep their rows in memory) holds the stack's secrets and
    lock, but no database: reading it is not an empty system either, and creates none."""
    (tmp_path / "dev-secrets.json").write_text("{}")
    code, _, err = run(["list"], env={"KYC_BACKEND": "local", "KYC_DATA_DIR": str(tmp_path)})
    assert code == 2 and "is KYC_DATA_DIR right?" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev-secrets.json"]


def test_list_rejects_an_unreadable_since_with_exit_2(stack: DevStack) -> None:
    code, out, err = run(["list", "--since", "last tuesday"])
    assert code == 2 and out == "" and "--since" in err


@pytest.mark.parametrize("bare", ["20250305", "3600"])
def test_list_refuses_a_bare_number_for_since_which_could_be_a_date_or_seconds(stack: DevStack, bare: str) -> None:
    code, out, err = run(["list", "--since", bare])
    assert code == 2 and out == "" and "needs a unit" in err


# --- sweep -------------------------------------------------------------------------------------------------


def test_sweep_runs_once_and_prints_the_report(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    code, out, err = run(["sweep"], env={**os.environ, "KYC_SWEEP_AFTER": "0"})
    assert code == 0, err
    report = jsonutil.loads(out)
    assert report["checked"] == 1 and report["finalized"] == 1 and report["errors"] == []


def test_sweep_whose_steps_fail_exits_1_with_their_errors_in_the_report(fakes: FakeStack) -> None:
    class DueIndexDown:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, attr: str) -> Any:
            return getattr(self._inner, attr)

        def due(self, *args: Any, **kwargs: Any) -> Any:
            raise StorageError("ots GetRange failed", transient=True, code="OTSServerBusy")

    ctx, out, _ = _on_fakes(fakes, transactions_store=DueIndexDown(fakes.store))
    assert transactions.run_sweep(kyc.build_parser().parse_args(["sweep"]), ctx) == 1
    assert "_recheck_pending:OTSServerBusy" in jsonutil.loads(out.getvalue())["errors"]



def test_sweep_whose_every_vendor_call_fails_exits_1_naming_the_errors(fakes: FakeStack) -> None:
    """The report counts such rows still pending, as they are; but a script must not read a sweep that fetched
    nothing as done (audit bu: a key the vendor refused gave exit 0), as refetch does not."""
    for _ in range(2):
        fakes.pending()
    fakes.clock.advance(3600)  # past KYC_SWEEP_AFTER
    refused = AuthError("key not found", status=404, code="InvalidAccessKeyId.NotFound")
    ctx, out, err = _on_fakes(fakes, FakeCloudAuth(refused))
    assert transactions.run_sweep(kyc.build_parser().parse_args(["sweep"]), ctx) == 1
    report = jsonutil.loads(out.getvalue())
    assert (report["checked"], report["stillPending"]) == (2, 2)
    assert report["fetchErrors"] == {"InvalidAccessKeyId.NotFound": 2}
    assert "2 checks fetched nothing" in err.getvalue()


def test_a_row_the_sweep_abandoned_after_a_failed_check_is_not_a_fetch_error(fakes: FakeStack) -> None:
    """Review bu: past its deadline the row is abandoned in the same pass, done rather than waiting: no
    fetchErrors, exit 0 (a permanently refused row would otherwise fail every manual sweep)."""
    fakes.pending()
    fakes.clock.advance(40 * 86400)  # past KYC_ABANDON_AFTER
    throttled = ServerError("busy", status=503, code="Throttling")
    ctx, out, _ = _on_fakes(fakes, FakeCloudAuth(throttled))
    assert transactions.run_sweep(kyc.build_parser().parse_args(["sweep"]), ctx) == 0
    report = jsonutil.loads(out.getvalue())
    assert (report["abandoned"], report["stillPending"], report["fetchErrors"]) == (1, 0, {})


def test_a_sweep_that_fetched_what_it_checked_reports_no_fetch_errors(fakes: FakeStack) -> None:
    fakes.pending()
    fakes.clock.advance(3600)
    ctx, out, _ = _on_fakes(fakes)
    assert transactions.run_sweep(kyc.build_parser().parse_args(["sweep"]), ctx) == 0
    assert jsonutil.loads(out.getvalue())["fetchErrors"] == {}

# --- erase -------------------------------------------------------------------------------------------------


def _vendor_knows(transaction_id: str, merchant_biz_id: str) -> bool:
    client = CloudAuthClient(CloudAuthSettings.from_env())
    try:
        client.check_result(merchant_biz_id, transaction_id)
    except TransactionIdInvalid:
        return False
    except Exception:
        return True
    finally:
        client.close()
    return True


def test_erase_deletes_the_vendor_copy_objects_and_rows_of_that_user_only(stack: DevStack) -> None:
    first = finalized(stack, "carol")
    second = finalized(stack, "carol")
    other = finalized(stack, "dave")
    code, out, err = run(["erase", "--user", "carol", "--yes"])
    assert code == 0, err
    summary = jsonutil.loads(out)
    assert summary["erased"] == 2 and summary["failed"] == 0 and "carol" not in out
    assert {t["vendor"] for t in summary["transactions"]} == {"deleted"}
    store = open_transaction_store(StorageSettings.from_env())
    objects = open_object_store(StorageSettings.from_env())
    for created in (first, second):
        assert store.get(created["merchantBizId"]) is None
        assert objects.list(f"results/{created['merchantBizId']}/") == []
        assert not _vendor_knows(created["transactionId"], created["merchantBizId"])
    assert store.get(other["merchantBizId"]) is not None
    assert objects.list(f"results/{other['merchantBizId']}/") != []


def test_erase_dry_run_lists_and_changes_nothing(stack: DevStack) -> None:
    created = finalized(stack, "carol")
    code, out, err = run(["erase", "--user", "carol", "--dry-run"])
    assert code == 0, err
    summary = jsonutil.loads(out)
    assert summary["dryRun"] is True and summary["transactions"][0]["objects"] >= 1
    assert (summary["transactions"][0]["vendor"], summary["transactions"][0]["row"]) == ("would delete", "would delete")
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]) is not None
    assert _vendor_knows(created["transactionId"], created["merchantBizId"])


def test_erase_dry_run_says_an_unfinished_flow_would_be_kept_as_a_tombstone(stack: DevStack) -> None:
    """Found by review aq: the dry run said "would delete" of every row, and the run then kept this one."""
    created = start_verification(stack, "carol")
    code, out, err = run(["erase", "--user", "carol", "--dry-run"])
    assert code == 0, err
    (item,) = jsonutil.loads(out)["transactions"]
    assert item["row"].startswith("would be kept as ERASED") and "would ask" in item["vendor"]
    code, out, err = run(["erase", "--user", "carol", "--yes"])
    assert code == 0, err
    assert jsonutil.loads(out)["transactions"][0]["row"].startswith("kept as ERASED")
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]) is not None


def test_erase_dry_run_says_a_tombstone_whose_vendor_copy_is_deleted_would_be_deleted(stack: DevStack) -> None:
    """Found by review at: an ERASED tombstone whose vendor copy this deployment deleted (the row's deletion then
    failed) is deleted by the run, but the dry run said it would be kept as ERASED."""
    created = start_verification(stack, "carol")
    complete(stack, created["transactionId"])  # the person finished; no callback processed
    store = open_transaction_store(StorageSettings.from_env())
    mbid = created["merchantBizId"]
    assert store.mark_erased(mbid, store.get(mbid).created_at + 1)  # type: ignore[union-attr]
    client = CloudAuthClient(CloudAuthSettings.from_env())
    try:
        assert client.delete_verify_result(created["transactionId"], delete_after_query=False).deleted
    finally:
        client.close()
    store.mark_vendor_copy_deleted(mbid)  # what _erase_one records before the row's deletion (which then failed)
    code, out, err = run(["erase", "--user", "carol", "--dry-run"])
    assert code == 0, err
    (dry,) = jsonutil.loads(out)["transactions"]
    code, out, err = run(["erase", "--user", "carol", "--yes"])
    assert code == 0, err
    (real,) = jsonutil.loads(out)["transactions"]
    assert real["row"] == "deleted" and store.get(mbid) is None
    assert (dry["vendor"], dry["row"]) == ("already deleted", "would delete")


def test_erase_off_a_terminal_refuses_without_yes(stack: DevStack) -> None:
    created = start_verification(stack, "carol")
    code, out, err = run(["erase", "--user", "carol"])
    assert code == 2 and out == "" and "--yes" in err
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]) is not None


def test_erase_at_a_terminal_proceeds_only_after_yes_is_typed(stack: DevStack) -> None:
    created = finalized(stack, "carol")
    assert run(["erase", "--user", "carol"], stdin=Tty("no\n"))[0] == 2
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]) is not None
    code, _, err = run(["erase", "--user", "carol"], stdin=Tty("yes\n"))
    assert code == 0 and "Type 'yes'" in err
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]) is None


def test_erase_goes_on_after_a_vendor_error_and_keeps_that_row_for_a_retry(stack: DevStack) -> None:
    failing = finalized(stack, "carol")
    ok = finalized(stack, "carol")
    assert stack.sandbox is not None
    plan = {"callbacks": {"drop": True},
            "operations": {"DeleteVerifyResult": {"sequence": ["Forbidden.RAMUserAccessDenied", "ok"]}}}
    assert control(stack.sandbox, "POST", "faults", plan).status == 200
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    assert code == 1
    by_id = {t["merchantBizId"]: t for t in jsonutil.loads(out)["transactions"]}
    assert by_id[failing["merchantBizId"]]["vendor"].startswith("error: Forbidden")
    store = open_transaction_store(StorageSettings.from_env())
    assert store.get(failing["merchantBizId"]) is not None  # kept: its TransactionId is needed for the retry
    assert open_object_store(StorageSettings.from_env()).list(f"results/{failing['merchantBizId']}/") == []
    assert store.get(ok["merchantBizId"]) is None
    assert run(["erase", "--user", "carol", "--yes"])[0] == 0
    assert store.get(failing["merchantBizId"]) is None


def test_erase_waits_and_tries_again_while_the_vendor_throttles_its_deletions(
    stack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's many transactions erased one after another outrun the vendor's per-second QPS (the sandbox's is
    10): more throttled answers than the client's own retries absorb must not leave rows behind (found by a
    newcomer erasing the demo user)."""
    monkeypatch.setattr(transactions, "THROTTLED_WAITS", (0.01, 0.01, 0.01))
    created = finalized(stack, "carol")
    assert stack.sandbox is not None
    plan = {"callbacks": {"drop": True},
            "operations": {"DeleteVerifyResult": {"sequence": ["Throttling.Api"] * 4 + ["ok"]}}}
    assert control(stack.sandbox, "POST", "faults", plan).status == 200
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    assert code == 0 and jsonutil.loads(out)["transactions"][0]["vendor"] == "deleted"
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]) is None


def test_erase_of_an_unfinished_flow_keeps_only_its_tombstone_and_says_what_finishes_it(stack: DevStack) -> None:
    """The vendor keeps an unfinished flow (the person abandoned it) until its 30 days pass: erase leaves the
    TransactionId in an ERASED tombstone, which the sweeper deletes with the vendor's copy once the flow is
    complete, or by then. Nothing is left for the operator to do: exit 0."""
    created = start_verification(stack, "carol")  # unfinished: the vendor answers DeleteResult N
    row = open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"])
    assert row is not None
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    item = jsonutil.loads(out)["transactions"][0]
    assert code == 0 and "unfinished" in item["vendor"]
    assert item["row"] == ("kept as ERASED (the TransactionId only; nothing of this flow will be kept or announced): "
                           "the sweeper deletes the vendor's copy once the flow is complete, and the row by "
                           f"{rfc3339(row.created_at + OUTBOX_WINDOW_SECONDS)}")
    kept = open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"])
    assert kept is not None and kept.status == "ERASED" and kept.transaction_url is None


def test_a_flow_finished_after_its_erasure_is_deleted_at_the_vendor_and_here_not_kept(stack: DevStack) -> None:
    """The person finishes the flow after `kyc erase` (its page is still open): the fetch of it, as a callback
    would run it, finishes the erasure instead of keeping and announcing the result."""
    created = start_verification(stack, "carol")
    code, _, _ = run(["erase", "--user", "carol", "--yes"])
    assert code == 0  # the vendor keeps the unfinished flow: its tombstone waits for it
    store = open_transaction_store(StorageSettings.from_env())
    row = store.get(created["merchantBizId"])
    assert row is not None and row.status == "ERASED"
    complete(stack, created["transactionId"])
    code, out, err = run(["refetch", created["merchantBizId"]])
    assert (code, jsonutil.loads(out)["outcome"]) == (0, "erased"), err
    assert store.get(created["merchantBizId"]) is None
    assert open_object_store(StorageSettings.from_env()).list(f"results/{created['merchantBizId']}/") == []
    assert not _vendor_knows(created["transactionId"], created["merchantBizId"])
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    assert (code, jsonutil.loads(out)["transactions"]) == (0, [])


def test_erase_deletes_the_vendor_copy_of_a_finished_flow_whose_result_was_never_read(stack: DevStack) -> None:
    """The user finished at the vendor, no callback came and nobody fetched the result: the erasure still deletes
    what the vendor holds (DeleteAfterQuery N; with Y the vendor deletes only a result already read)."""
    created = start_verification(stack, "carol")
    complete(stack, created["transactionId"])  # the local stack delivers no callback on its own: never read
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    assert (code, jsonutil.loads(out)["transactions"][0]["vendor"]) == (0, "deleted")
    assert open_transaction_store(StorageSettings.from_env()).get(created["merchantBizId"]) is None


def _forgotten_by_the_vendor(stack: DevStack, user: str, *, age_days: float = 0.0,
                             deleted_by_us: bool = False) -> str:
    """A finalized transaction of ``user`` whose copy the vendor no longer has, created ``age_days`` ago."""
    created = finalized(stack, user)
    CloudAuthClient(CloudAuthSettings.from_env()).delete_verify_result(
        created["transactionId"], delete_after_query=False
    )
    store = open_transaction_store(StorageSettings.from_env())
    row = store.get(created["merchantBizId"])
    assert row is not None
    if age_days:
        store.delete(row.merchant_biz_id)
        store.create(replace(row, created_at=row.created_at - age_days * 86400))
    if deleted_by_us:
        store.mark_vendor_copy_deleted(row.merchant_biz_id)
    return row.merchant_biz_id


def test_erase_does_not_report_erased_a_transaction_the_vendor_does_not_know_within_its_30_days(
    stack: DevStack,
) -> None:
    """Within the vendor's 30 days "unknown" more likely means the operator's shell calls another region or account
    than that the vendor's copy is gone: the row (and its TransactionId) is kept for a run with the right settings."""
    mbid = _forgotten_by_the_vendor(stack, "carol")
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    assert code == 1
    summary = jsonutil.loads(out)
    assert summary["transactions"][0]["vendor"].startswith("not confirmed") and summary["failed"] == 1
    assert open_transaction_store(StorageSettings.from_env()).get(mbid) is not None
    assert open_object_store(StorageSettings.from_env()).list(f"results/{mbid}/") == []


def test_erase_accepts_unknown_to_the_vendor_within_its_30_days_when_told_to(stack: DevStack) -> None:
    mbid = _forgotten_by_the_vendor(stack, "carol")
    code, out, _ = run(["erase", "--user", "carol", "--yes", "--accept-unknown"])
    assert code == 0 and "unknown to the vendor" in jsonutil.loads(out)["transactions"][0]["vendor"]
    assert open_transaction_store(StorageSettings.from_env()).get(mbid) is None


def test_erase_treats_a_transaction_unknown_to_the_vendor_past_its_30_days_as_erased(stack: DevStack) -> None:
    mbid = _forgotten_by_the_vendor(stack, "carol", age_days=32)
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    assert code == 0 and "unknown to the vendor" in jsonutil.loads(out)["transactions"][0]["vendor"]
    assert open_transaction_store(StorageSettings.from_env()).get(mbid) is None


def test_erase_treats_a_vendor_copy_this_deployment_deleted_as_erased(stack: DevStack) -> None:
    mbid = _forgotten_by_the_vendor(stack, "carol", deleted_by_us=True)
    code, out, _ = run(["erase", "--user", "carol", "--yes"])
    assert code == 0 and "unknown to the vendor" in jsonutil.loads(out)["transactions"][0]["vendor"]
    assert open_transaction_store(StorageSettings.from_env()).get(mbid) is None


def test_erase_without_a_pepper_on_the_aliyun_backend_is_a_config_error(tmp_path: Path) -> None:
    code, _, err = run(["erase", "--user", "carol", "--yes"], env={"KYC_BACKEND": "aliyun"})
    assert code == 2 and "KYC_USER_ID_PEPPER" in err


# --- invoke ------------------------------------------------------------------------------------------------


def invoke_cli(dev: DevStack, *args: str, event: Path = EVENTS / "timer.json") -> tuple[int, str, str]:
    assert dev.gateway is not None
    return run(["invoke", *args, "--event-file", str(event), "--endpoint", dev.gateway.url])


@pytest.fixture
def not_an_event(tmp_path: Path) -> Path:
    """JSON, but no event result_fetcher understands: the handler raises BadEvent."""
    path = tmp_path / "42.json"
    path.write_text("42")
    return path


def test_invoke_prints_the_function_return_value(stack: DevStack) -> None:
    code, out, err = invoke_cli(stack, "sweeper")
    assert code == 0, err
    assert "stillPending" in jsonutil.loads(out)


def test_invoke_takes_the_name_s_yaml_deploys_too(stack: DevStack) -> None:
    code, out, err = invoke_cli(stack, "kyc-sweeper")
    assert code == 0, err
    assert "stillPending" in jsonutil.loads(out)


def test_invoke_async_prints_the_accepted_request_id(stack: DevStack) -> None:
    assert stack.gateway is not None
    code, out, err = invoke_cli(stack, "sweeper", "--async")
    assert code == 0, err
    accepted = jsonutil.loads(out)
    assert accepted["accepted"] is True
    assert stack.gateway.fc3_api.wait(accepted["requestId"], timeout=20).status == "Succeeded"


def test_invoke_defaults_to_the_local_gateway_port(stack: DevStack) -> None:
    assert stack.gateway is not None
    env = {**os.environ, "KYC_HTTP_PORT": str(stack.gateway.port)}
    code, out, err = run(["invoke", "sweeper", "--event-file", str(EVENTS / "timer.json")], env=env)
    assert code == 0, err
    assert "stillPending" in jsonutil.loads(out)


def test_invoke_of_an_unknown_function_exits_1_with_fcs_error_code(stack: DevStack) -> None:
    code, out, err = invoke_cli(stack, "nope")
    assert code == 1 and err.splitlines()[-1].startswith("error: FunctionNotFound: function 'nope' does not exist.")
    assert jsonutil.loads(out)["status"] == 404


def test_invoke_of_a_failing_function_exits_1_and_shows_the_log_tail_with_the_error(
    stack: DevStack, not_an_event: Path
) -> None:
    code, out, err = invoke_cli(stack, "result_fetcher", event=not_an_event)
    assert code == 1
    assert jsonutil.loads(out)["errorType"] == "UnhandledInvocationError"
    assert "--- log tail of kyc-result-fetcher" in err and "BadEvent" in err
    assert err.splitlines()[-1] == "error: BadEvent: the function failed (UnhandledInvocationError)"


def test_invoke_of_a_function_that_logged_nothing_says_its_log_tail_is_empty(stack: DevStack) -> None:
    """With nothing to do, the sweeper logs no line ``./scripts/dev`` keeps (QuietIdleSweeps): the tail is empty,
    and said to be (found by a newcomer: operations.md's first invoke example seemed to print nothing)."""
    quiet, sweeper_log = QuietIdleSweeps(), logging.getLogger("kyc.sweeper")
    sweeper_log.addFilter(quiet)
    try:
        code, _, err = invoke_cli(stack, "sweeper")
    finally:
        sweeper_log.removeFilter(quiet)
    assert code == 0
    assert err.startswith("--- log tail of kyc-sweeper (request ") and "): empty ---\n" in err, err


def test_invoke_no_log_asks_for_no_log_tail(stack: DevStack, not_an_event: Path) -> None:
    code, _, err = invoke_cli(stack, "result_fetcher", "--no-log", event=not_an_event)
    assert code == 1 and "log tail" not in err


def test_invoke_with_a_wrong_secret_names_the_signature_error(stack: DevStack) -> None:
    assert stack.gateway is not None
    env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong"}
    code, _, err = run(["invoke", "sweeper", "--event-file", str(EVENTS / "timer.json"),
                        "--endpoint", stack.gateway.url], env=env)
    assert code == 1 and err.startswith("error: SignatureNotMatch:") and "(HTTP 403)" in err


def test_invoke_through_fc2_reaches_the_fc2_route_with_service(stack: DevStack) -> None:
    code, out, err = invoke_cli(stack, "sweeper", "--service", "ekyc-dev")
    assert code == 0, err
    assert "stillPending" in jsonutil.loads(out)


def test_invoke_refuses_an_event_file_that_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "e.json"
    bad.write_text("not json")
    code, _, err = run(["invoke", "sweeper", "--event-file", str(bad)], env={})
    assert code == 2 and "not JSON" in err


def test_invoke_of_an_unreachable_endpoint_fails_with_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out, err = run(["invoke", "sweeper", "--event-file", str(EVENTS / "timer.json"),
                          "--endpoint", f"http://127.0.0.1:{port}"], env={})
    assert code == 1 and out == ""
    refused = f"error: TransportError: cannot reach http://127.0.0.1:{port} (ConnectionRefusedError)"
    assert err.splitlines()[-1] == refused
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_invoke_of_the_local_gateway_with_no_stack_running_says_that_none_runs(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run(["invoke", "sweeper", "--event-file", str(EVENTS / "timer.json"),
                        "--endpoint", f"http://127.0.0.1:{port}"], env={"KYC_DATA_DIR": str(tmp_path / "data")})
    assert code == 1
    assert f"no ./scripts/dev stack is running in {tmp_path / 'data'}" in err
    assert err.splitlines()[-1].startswith("error: TransportError: cannot reach")


def test_invoke_makes_exactly_one_attempt_when_the_connection_drops() -> None:
    import socket

    accepted = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(10)

        def drop() -> None:
            try:
                while True:
                    conn, _ = server.accept()
                    accepted.append(conn)
                    conn.close()
            except OSError:
                pass

        thread = threading.Thread(target=drop, daemon=True)
        thread.start()
        code, _, err = run(["invoke", "sweeper", "--event-file", str(EVENTS / "timer.json"),
                            "--endpoint", f"http://127.0.0.1:{server.getsockname()[1]}"], env={})
    thread.join(15)
    assert code == 1 and "error: AnswerLost" in err and "may have run" in err  # the request may have gone out
    assert len(accepted) == 1, "an invocation is never retried by the CLI"


def test_invoke_with_an_account_id_targets_fc3_in_the_region() -> None:
    import argparse

    from tools.ops import invoke

    def endpoint(*argv: str, env: dict[str, str] | None = None) -> str:
        parser = argparse.ArgumentParser()
        invoke.configure(parser)
        return invoke.endpoint_for(parser.parse_args(["f", "--event-file", "e", *argv]), env or {})

    assert endpoint("--account-id", "1234567890") == "https://1234567890.cn-hongkong.fc.aliyuncs.com"
    assert endpoint("--account-id", "1234567890", "--region", "ap-southeast-1") == (
        "https://1234567890.ap-southeast-1.fc.aliyuncs.com")
    assert endpoint(env={"KYC_FC_ACCOUNT_ID": "42", "KYC_REGION": "ap-southeast-5"}) == (
        "https://42.ap-southeast-5.fc.aliyuncs.com")
    assert endpoint(env={"KYC_HTTP_PORT": "9999"}) == "http://127.0.0.1:9999"
    with pytest.raises(UsageError):
        endpoint("--account-id", "not-a-number")


def test_invoke_names_a_folder_by_its_deployed_name_with_the_prefix() -> None:
    from tools.ops import invoke

    assert invoke.function_name("result_fetcher", {}) == "kyc-result-fetcher"
    assert invoke.function_name("result_fetcher", {"KYC_NAME_PREFIX": "acme"}) == "acme-result-fetcher"
    assert invoke.function_name("kyc-notifier", {}) == "kyc-notifier"


# --- dead letters (local) ---------------------------------------------------------------------------------

URL = "https://hooks.example/kyc"


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    return {"KYC_BACKEND": "local", "KYC_DATA_DIR": str(tmp_path / "data")}


def _settings(env: dict[str, str]) -> StorageSettings:
    return StorageSettings.from_env(env)


def dead_letter_webhook(env: dict[str, str], mbid: str = "biz1") -> None:
    """A permanent delivery failure, dead-lettered by the real Notifier."""
    settings = _settings(env)
    store = open_transaction_store(settings)
    store.create(TransactionRecord(merchant_biz_id=mbid, transaction_id="t-" + mbid, merchant_user_id="u",
                                   doc_type="01000000", created_at=time.time(), updated_at=time.time()))
    objects = open_object_store(settings)
    key = f"{answer_prefix(mbid, 'd' * 20)}{RESULT_DOCUMENT}"  # the kept result the notifier checks a verdict against
    document = {"merchantBizId": mbid, "result": {"status": "PASSED", "passed": "Y", "subCode": "200"}}
    objects.put(key, jsonutil.dumps(document), "application/json")
    store.finalize(mbid, status="PASSED", passed="Y", sub_code="200", result_key=key, identity_masked=None,
                   result_version=1, now=time.time())
    notifier = Notifier(
        store=store, objects=objects, notify_queue=open_queue(settings, "notify"),
        deadletter_queue=open_queue(settings, "deadletter"),
        settings=WebhookSettings(subscribers=(Subscriber(URL, "whsec_" + "A" * 32),), retry_schedule=(5.0,),
                                 allow_private_targets=False, require_https=True, timeout_seconds=1.0),
        sender=lambda url, body, headers: DeliveryResult(ok=False, status=410, error="gone", permanent=True),
    )
    notifier.handle_body({"merchantBizId": mbid, "attempt": 0})


def dead_letter_trigger(env: dict[str, str], body: bytes = b'{"merchantBizId":"biz2","attempt":3}') -> None:
    """A re-check message the (local) trigger gave up on, dead-lettered by the real dev worker."""
    settings = _settings(env)
    recheck = open_queue(settings, "recheck")
    recheck.send(body)

    def failing(name: str, event: Any) -> Any:
        raise RuntimeError("function failed")

    worker = QueueWorker(failing, {"recheck": recheck}, open_queue(settings, "deadletter"),  # type: ignore[dict-item]
                         subscriptions=(Subscription("recheck", "result_fetcher"),), max_receives=0)
    worker.run_once()


def queue_bodies(env: dict[str, str], name: str) -> list[Any]:
    queue = open_queue(_settings(env), name)
    assert isinstance(queue, SqliteQueue)
    return [jsonutil.loads(m.body) for m in queue.peek(100)]


def test_dlq_list_shows_both_kinds_without_taking_them(local_env: dict[str, str]) -> None:
    dead_letter_webhook(local_env)
    dead_letter_trigger(local_env)
    code, out, err = run(["dlq", "list"], env=local_env)
    assert code == 0, err
    items = lines(out)
    assert [i["kind"] for i in items] == ["notify", "trigger"]
    assert items[0]["body"]["subscriber"] == "https://hooks.example"  # printed as display_url prints a URL
    assert items[0]["body"]["reason"] == "webhook_undeliverable"
    assert items[1]["body"]["queue"] == "recheck"
    assert len(lines(run(["dlq", "list"], env=local_env)[1])) == 2


def test_dlq_redrive_by_id_sends_the_webhook_again_to_that_subscriber_only(local_env: dict[str, str]) -> None:
    dead_letter_webhook(local_env)
    dead_letter_trigger(local_env)
    notify_id = lines(run(["dlq", "list"], env=local_env)[1])[0]["messageId"]
    code, out, err = run(["dlq", "redrive", "--id", notify_id], env=local_env)
    assert code == 0, err
    assert jsonutil.loads(out)["redriven"][0]["queue"] == "notify"
    key = Subscriber(URL, "whsec_" + "A" * 32).key  # dead letters name the subscriber by its key, never its URL
    assert queue_bodies(local_env, "notify") == [{"merchantBizId": "biz1", "attempt": 0, "pending": [key]}]
    assert [i["kind"] for i in lines(run(["dlq", "list"], env=local_env)[1])] == ["trigger"]


def test_dlq_list_shows_subscriber_urls_redacted_even_in_older_dead_letters(local_env: dict[str, str]) -> None:
    older = {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "biz1",
             "subscriber": "https://bob:hunter2@hooks.example:8443/T0/s3cret?token=s3cret", "attempts": 8}  # fmt: skip
    open_queue(_settings(local_env), "deadletter").send(jsonutil.dumps(older))
    code, out, err = run(["dlq", "list"], env=local_env)
    assert code == 0, err
    (item,) = lines(out)
    assert item["body"]["subscriber"] == "https://hooks.example:8443"
    assert "hunter2" not in out and "s3cret" not in out


def test_dlq_list_shows_subscriber_urls_redacted_in_an_older_trigger_dead_letter_s_message(
    local_env: dict[str, str],
) -> None:
    """Found by review vv: a notify message queued before subscribers were named by key listed their URLs in
    ``pending``; a trigger dead letter of one printed them whole."""
    message = {"merchantBizId": "biz1", "attempt": 2,
               "pending": ["https://bob:hunter2@hooks.example:8443/T0/s3cret?token=s3cret"]}  # fmt: skip
    letter = {"kind": "trigger", "queue": "notify", "body": jsonutil.dumps_str(message)}
    open_queue(_settings(local_env), "deadletter").send(jsonutil.dumps(letter))
    code, out, err = run(["dlq", "list"], env=local_env)
    assert code == 0, err
    (item,) = lines(out)
    assert jsonutil.loads(item["body"]["body"])["pending"] == ["https://hooks.example:8443"]
    assert "hunter2" not in out and "s3cret" not in out


def test_dlq_redrive_of_an_older_dead_letter_still_finds_its_subscriber_by_url(local_env: dict[str, str]) -> None:
    older = {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "biz1", "subscriber": URL}
    open_queue(_settings(local_env), "deadletter").send(jsonutil.dumps(older))
    code, _, err = run(["dlq", "redrive"], env=local_env)
    assert code == 0, err
    assert queue_bodies(local_env, "notify") == [{"merchantBizId": "biz1", "attempt": 0, "pending": [URL]}]


def _trigger_letters(env: dict[str, str], count: int) -> list[str]:
    queue = open_queue(_settings(env), "deadletter")
    return [queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck",
                                       "body": jsonutil.dumps_str({"merchantBizId": f"biz{n}", "attempt": 1})}))
            for n in range(count)]


@pytest.mark.parametrize("args", [["dlq", "redrive"], ["dlq", "purge", "--older-than", "0", "--yes"]],
                         ids=["redrive", "purge"])
def test_a_dlq_walk_stopped_at_its_limit_exits_1_and_says_more_may_be_left(
    local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """It walks at most ``MAX_MESSAGES`` letters: exit 0 there read as "the queue is dealt with"."""
    _trigger_letters(local_env, RECEIVE_BATCH + 4)  # the first receive takes 16: 4 are left unseen
    monkeypatch.setattr(dlq, "MAX_MESSAGES", 2)
    code, out, err = run(args, env=local_env)
    assert (code, jsonutil.loads(out)["stoppedAtLimit"]) == (1, True)
    assert "more may be on the queue; run the command again" in err
    monkeypatch.setattr(dlq, "MAX_MESSAGES", 100)
    code, out, err = run(args, env=local_env)
    assert (code, jsonutil.loads(out)["stoppedAtLimit"], err) == (0, False, "")
    assert queue_bodies(local_env, "deadletter") == []


def test_a_purge_that_deleted_every_letter_on_the_queue_does_not_say_it_stopped_at_its_limit(
    local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three letters, a limit of two: one receive hands out all three, the walk purges all three and the queue is
    empty, yet the command reports ``stoppedAtLimit`` and exits 1 ("more may be on the queue")."""
    _trigger_letters(local_env, 3)
    monkeypatch.setattr(dlq, "MAX_MESSAGES", 2)

    code, out, err = run(["dlq", "purge", "--older-than", "0", "--yes"], env=local_env)

    assert queue_bodies(local_env, "deadletter") == []  # every letter was purged: nothing is left to walk
    assert (code, jsonutil.loads(out)["stoppedAtLimit"]) == (0, False), (
        f"exit {code}, {out.strip()} {err.strip()}: a purge that emptied the queue says more may be left"
    )


def test_a_redrive_by_id_that_redrove_the_letter_asked_for_is_complete_when_the_walk_reaches_its_limit(
    local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kyc dlq redrive --id X`` on a queue longer than the walk's limit: X was found, sent back and deleted, but
    the command exits 1 and asks to run it again (which finds no X: notFound, exit 1 again)."""
    ids = _trigger_letters(local_env, 3)
    monkeypatch.setattr(dlq, "MAX_MESSAGES", 2)

    code, out, err = run(["dlq", "redrive", "--id", ids[0]], env=local_env)

    report = jsonutil.loads(out)
    assert [r["messageId"] for r in report["redriven"]] == [ids[0]] and report["notDeleted"] == []
    assert code == 0, (
        f"exit {code} ({err.strip()}): every letter asked for was redriven and deleted, yet the walk's limit "
        "made the command fail"
    )


def _unconfigured_letter(env: dict[str, str]) -> str:
    """What the notifier dead-letters for a follow-up no configured subscriber answers to."""
    letter = {"kind": "notify", "reason": "subscriber_not_configured", "merchantBizId": "biz1",
              "subscriberKey": "sub_0123456789abcdef", "subscriber": None, "attempts": 2}  # fmt: skip
    return open_queue(_settings(env), "deadletter").send(jsonutil.dumps(letter))


def test_dlq_redrive_leaves_a_letter_whose_subscriber_is_not_configured_and_says_how(local_env: dict[str, str]) -> None:
    _unconfigured_letter(local_env)
    code, out, _ = run(["dlq", "redrive"], env=local_env)
    assert code == 1 and "--subscriber" in jsonutil.loads(out)["skipped"][0]["reason"]
    assert queue_bodies(local_env, "notify") == []


def test_dlq_redrive_sends_a_letter_on_to_the_subscriber_named_by_its_id(local_env: dict[str, str]) -> None:
    message_id = _unconfigured_letter(local_env)
    env = {**local_env, "KYC_WEBHOOKS": jsonutil.dumps_str([{"id": "main", "url": URL, "secret": "whsec_" + "A" * 32}])}
    code, _, err = run(["dlq", "redrive", "--id", message_id, "--subscriber", "main"], env=env)
    assert code == 0, err
    assert queue_bodies(local_env, "notify") == [{"merchantBizId": "biz1", "attempt": 0, "pending": ["id_main"]}]


def test_dlq_redrive_to_a_subscriber_leaves_a_trigger_letter_and_says_why(local_env: dict[str, str]) -> None:
    dead_letter_trigger(local_env)
    message_id = lines(run(["dlq", "list"], env=local_env)[1])[0]["messageId"]
    env = {**local_env, "KYC_WEBHOOKS": jsonutil.dumps_str([{"id": "main", "url": URL, "secret": "whsec_" + "A" * 32}])}
    code, out, _ = run(["dlq", "redrive", "--id", message_id, "--subscriber", "main"], env=env)
    assert code == 1 and "webhook letters only" in jsonutil.loads(out)["skipped"][0]["reason"]
    assert queue_bodies(local_env, "recheck") == []


@pytest.mark.parametrize(("args", "complaint"), [
    (["--subscriber", "main"], "needs --id"),
    (["--id", "m1", "--subscriber", "nobody"], "names no subscriber"),
])  # fmt: skip
def test_dlq_redrive_to_a_subscriber_needs_the_letters_named_and_a_configured_subscriber(
    local_env: dict[str, str], args: list[str], complaint: str
) -> None:
    env = {**local_env, "KYC_WEBHOOKS": jsonutil.dumps_str([{"id": "main", "url": URL, "secret": "whsec_" + "A" * 32}])}
    code, out, err = run(["dlq", "redrive", *args], env=env)
    assert code == 2 and out == "" and complaint in err


def test_dlq_redrive_puts_a_trigger_message_back_on_its_queue_unchanged(local_env: dict[str, str]) -> None:
    dead_letter_trigger(local_env)
    code, _, err = run(["dlq", "redrive"], env=local_env)
    assert code == 0, err
    assert queue_bodies(local_env, "recheck") == [{"merchantBizId": "biz2", "attempt": 3}]
    assert run(["dlq", "list"], env=local_env)[1] == ""


def test_dlq_redrive_of_an_unknown_id_exits_1_and_leaves_the_queue_alone(local_env: dict[str, str]) -> None:
    dead_letter_trigger(local_env)
    code, out, _ = run(["dlq", "redrive", "--id", "NOSUCHID"], env=local_env)
    assert code == 1 and jsonutil.loads(out)["notFound"] == ["NOSUCHID"]
    assert len(lines(run(["dlq", "list"], env=local_env)[1])) == 1
    assert queue_bodies(local_env, "recheck") == []


def test_dlq_redrive_leaves_a_malformed_dead_letter_in_place(local_env: dict[str, str]) -> None:
    open_queue(_settings(local_env), "deadletter").send(jsonutil.dumps({"kind": "notify",
                                                                       "reason": "malformed_message", "size": 3}))
    code, out, _ = run(["dlq", "redrive"], env=local_env)
    assert code == 1 and len(jsonutil.loads(out)["skipped"]) == 1
    assert len(lines(run(["dlq", "list"], env=local_env)[1])) == 1


def test_dlq_redrive_leaves_a_dead_letter_whose_transaction_is_gone_in_place(local_env: dict[str, str]) -> None:
    gone = {"kind": "notify", "reason": "transaction_gone", "merchantBizId": "a" * 32,
            "subscribers": ["https://a.example"], "attempts": 2}  # fmt: skip
    open_queue(_settings(local_env), "deadletter").send(jsonutil.dumps(gone))
    code, out, _ = run(["dlq", "redrive"], env=local_env)
    assert code == 1 and "transaction is gone" in jsonutil.loads(out)["skipped"][0]["reason"]
    assert queue_bodies(local_env, "notify") == []


def test_dlq_purge_deletes_only_letters_older_than_the_age(local_env: dict[str, str]) -> None:
    dead_letter_trigger(local_env)
    code, out, err = run(["dlq", "purge", "--older-than", "1h", "--yes"], env=local_env)
    assert code == 0, err
    assert jsonutil.loads(out)["purged"] == 0
    code, out, _ = run(["dlq", "purge", "--older-than", "0", "--yes"], env=local_env)
    assert code == 0 and jsonutil.loads(out)["purged"] == 1
    assert run(["dlq", "list"], env=local_env)[1] == ""


def test_dlq_purge_off_a_terminal_refuses_without_yes(local_env: dict[str, str]) -> None:
    dead_letter_trigger(local_env)
    code, _, err = run(["dlq", "purge", "--older-than", "0"], env=local_env)
    assert code == 2 and "--yes" in err
    assert len(lines(run(["dlq", "list"], env=local_env)[1])) == 1


def test_dlq_purge_rejects_an_unreadable_age(local_env: dict[str, str]) -> None:
    code, _, err = run(["dlq", "purge", "--older-than", "a while", "--yes"], env=local_env)
    assert code == 2 and "--older-than" in err


# Where a redrive sends a letter, and what it reports (found by mutating tools/ops/dlq.py).


@pytest.mark.parametrize("letter", [
    {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "", "subscriberKey": "id_main"},
    {"kind": "trigger", "queue": "deadletter", "body": '{"merchantBizId":"biz1","attempt":0}'},
    {"kind": "trigger", "queue": "nosuchqueue", "body": '{"merchantBizId":"biz1","attempt":0}'},
], ids=["notify-without-merchantBizId", "trigger-of-the-deadletter-queue", "trigger-of-an-unknown-queue"])
def test_a_dead_letter_that_names_no_verification_or_no_queue_of_ours_goes_nowhere(letter: dict[str, Any]) -> None:
    assert isinstance(dlq.destination(letter), str)


def test_dlq_redrive_by_id_of_a_letter_it_leaves_in_place_says_why_and_not_that_it_was_not_found(
    local_env: dict[str, str],
) -> None:
    gone = {"kind": "notify", "reason": "transaction_gone", "merchantBizId": "a" * 32, "subscriberKeys": ["id_a"]}
    message_id = open_queue(_settings(local_env), "deadletter").send(jsonutil.dumps(gone))
    code, out, _ = run(["dlq", "redrive", "--id", message_id], env=local_env)
    report = jsonutil.loads(out)
    assert code == 1 and [s["messageId"] for s in report["skipped"]] == [message_id] and report["notFound"] == []


def test_a_redrive_by_id_that_found_its_letter_is_not_stopped_at_the_limit_though_letters_were_left_unseen(
    local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _trigger_letters(local_env, RECEIVE_BATCH + 4)  # the first receive takes 16: 4 are left unseen
    monkeypatch.setattr(dlq, "MAX_MESSAGES", 2)
    code, out, err = run(["dlq", "redrive", "--id", ids[0]], env=local_env)
    report = jsonutil.loads(out)
    assert [r["messageId"] for r in report["redriven"]] == [ids[0]]
    assert (code, report["stoppedAtLimit"]) == (0, False), err


def test_a_redrive_whose_deletion_is_not_confirmed_is_not_complete(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "deadletter")
    message_id = queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": "m"}))
    queue.delete = lambda receipt: False  # type: ignore[method-assign]  # the answer never confirmed it
    report = dlq.redrive(queue, lambda name, body: "new")
    assert [r["messageId"] for r in report.redriven] == [message_id] and report.not_deleted == [message_id]
    assert not report.complete


def test_dlq_redrive_to_a_subscriber_takes_its_url_as_well_as_its_id() -> None:
    env = {"KYC_WEBHOOKS": jsonutil.dumps_str([{"id": "main", "url": URL, "secret": "whsec_" + "A" * 32}])}
    assert dlq.subscriber_key_of(env, URL) == dlq.subscriber_key_of(env, "main") == "id_main"


def test_a_webhook_letter_with_a_malformed_subscriber_list_is_not_redriven_to_every_subscriber() -> None:
    letter = {"kind": "notify", "reason": "processing_error", "merchantBizId": "biz1", "subscriberKeys": ["id_a", ""]}
    target = dlq.destination(letter)
    assert isinstance(target, str) or "pending" in jsonutil.loads(target.body)


def test_a_webhook_letter_naming_an_empty_subscriber_is_not_redriven_to_every_subscriber() -> None:
    letter = {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "biz1", "subscriberKey": "",
              "subscriber": ""}
    target = dlq.destination(letter)
    assert isinstance(target, str) or "pending" in jsonutil.loads(target.body)


def test_a_webhook_letter_s_null_subscriber_fields_name_nobody_and_its_key_is_redriven_to() -> None:
    """As the notifier writes them: one of ``subscriber``/``subscriberKey`` is null; a null is no name."""
    letter = {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "biz1", "subscriberKey": None,
              "subscriber": None, "subscriberKeys": ["id_a"]}
    target = dlq.destination(letter)
    assert not isinstance(target, str) and jsonutil.loads(target.body)["pending"] == ["id_a"]
    keyed = dlq.destination({**letter, "subscriberKey": "id_b", "subscriberKeys": None})
    assert not isinstance(keyed, str) and jsonutil.loads(keyed.body)["pending"] == ["id_b"]


def test_dlq_list_refuses_a_limit_of_zero(local_env: dict[str, str]) -> None:
    dead_letter_trigger(local_env)
    code, out, err = run(["dlq", "list", "--limit", "0"], env=local_env)
    assert (code, out) == (2, "") and "--limit must be between 1 and 10000" in err


def test_dlq_list_shows_every_letter_up_to_its_limit_on_the_local_backend(local_env: dict[str, str]) -> None:
    ids = _trigger_letters(local_env, 2 * RECEIVE_BATCH)
    code, out, _ = run(["dlq", "list"], env=local_env)
    assert code == 0 and [item["messageId"] for item in lines(out)] == ids


def _purge(queue: SqliteQueue, clock: Any, older_than: str) -> tuple[int, dict[str, Any]]:
    stores = SimpleNamespace(queue=lambda name: queue)
    out = io.StringIO()
    ctx = Context(env={}, stdout=out, stderr=io.StringIO(), stdin=io.StringIO(),
                  stores_factory=lambda env: stores, clock=clock)  # type: ignore[arg-type,return-value]
    code = dlq.run_purge(kyc.build_parser().parse_args(["dlq", "purge", "--older-than", older_than, "--yes"]), ctx)
    return code, jsonutil.loads(out.getvalue())


def test_dlq_purge_older_than_0_purges_a_letter_that_arrived_this_very_second(tmp_path: Path) -> None:
    clock = FakeClock()
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "deadletter", clock=clock)
    message_id = queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": "m"}))
    code, summary = _purge(queue, clock, "0")
    assert (code, summary["purged"], summary["messageIds"]) == (0, 1, [message_id])


def test_dlq_purge_whose_deletion_is_not_confirmed_exits_1_and_counts_the_letter_neither_purged_nor_kept(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "deadletter", clock=clock)
    message_id = queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": "m"}))
    queue.delete = lambda receipt: False  # type: ignore[method-assign]
    clock.advance(60)
    code, summary = _purge(queue, clock, "0")
    assert code == 1 and (summary["purged"], summary["kept"], summary["notDeleted"]) == (0, 0, [message_id])

# --- dead letters on MNS, at the wire -----------------------------------------------------------------------

CREDS = Credentials("LTAI-test-id", "test-secret", "sts-token-xyz")


class FakeMns:
    """One MNS queue in memory; every request's signature is recomputed with the official SDK's signer."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []  # id, body (as sent), enqueued (ms), visible_at, receipt, count
        self.requests: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()
        self.seq = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, payload: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("x-mns-request-id", "req-1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                oracle = MNSClient("http://127.0.0.1", CREDS.access_key_id, CREDS.access_key_secret)
                expected = oracle.get_signature(self.command, headers, self.path, MnsCredentials(
                    CREDS.access_key_id, CREDS.access_key_secret, CREDS.security_token))
                signed = headers.get("authorization") == expected
                outer.requests.append((self.command, self.path, signed))
                if not signed:
                    self._answer(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
                    return
                status, payload = outer.dispatch(self.command, self.path, body)
                self._answer(status, payload)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def put(self, body: bytes, enqueued: float | None = None) -> str:
        with self.lock:
            self.seq += 1
            message_id = f"MSG{self.seq:04d}"
            self.messages.append({"id": message_id, "body": encode_message_body(body), "count": 0,
                                  "enqueued": int((enqueued or time.time()) * 1000), "visible_at": 0.0,
                                  "receipt": None})
            return message_id

    @staticmethod
    def _xml(messages: list[dict[str, Any]], with_receipt: bool) -> bytes:
        parts = []
        for m in messages:
            md5 = hashlib.md5(m["body"].encode()).hexdigest().upper()
            receipt = f"<ReceiptHandle>{m['receipt']}</ReceiptHandle>" if with_receipt else ""
            parts.append(f"<Message><MessageId>{m['id']}</MessageId>{receipt}<MessageBodyMD5>{md5}</MessageBodyMD5>"
                         f"<MessageBody>{m['body']}</MessageBody><EnqueueTime>{m['enqueued']}</EnqueueTime>"
                         f"<FirstDequeueTime>{m['enqueued']}</FirstDequeueTime><DequeueCount>{m['count']}"
                         f"</DequeueCount><Priority>8</Priority></Message>")
        return (f'<?xml version="1.0" encoding="UTF-8"?><Messages xmlns="http://mns.aliyuncs.com/doc/v1/">'
                f"{''.join(parts)}</Messages>").encode()

    def dispatch(self, method: str, target: str, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        not_exist = b"<Error><Code>MessageNotExist</Code></Error>"
        now = time.time()
        with self.lock:
            if method == "GET" and query.get("peekonly") == "true":
                visible = [m for m in self.messages if m["visible_at"] <= now][: int(query["numOfMessages"])]
                return (200, self._xml(visible, False)) if visible else (404, not_exist)
            if method == "GET":
                visible = [m for m in self.messages if m["visible_at"] <= now][: int(query["numOfMessages"])]
                for m in visible:
                    self.seq += 1
                    m.update(receipt=f"RH-{self.seq}=", count=m["count"] + 1, visible_at=now + 30)
                return (200, self._xml(visible, True)) if visible else (404, not_exist)
            match = [m for m in self.messages if m["receipt"] and m["receipt"] == query.get("ReceiptHandle")]
            if not match:
                return 404, b"<Error><Code>ReceiptHandleError</Code></Error>"
            if method == "DELETE":
                self.messages.remove(match[0])
                return 204, b""
            if method == "PUT":
                match[0].update(visible_at=now + int(query["VisibilityTimeout"]), receipt=f"RH-new-{self.seq}=")
                return 200, (f"<ChangeVisibility><ReceiptHandle>{match[0]['receipt']}</ReceiptHandle>"
                             f"<NextVisibleTime>0</NextVisibleTime></ChangeVisibility>").encode()
        return 400, b"<Error><Code>InvalidArgument</Code></Error>"


@pytest.fixture
def mns() -> Iterator[FakeMns]:
    server = FakeMns()
    yield server
    server.close()


def _mns_queue(server: FakeMns) -> MnsQueue:
    return MnsQueue(server.endpoint, "kyc-deadletter", CREDS, timeout=5)


def test_mns_receive_returns_decoded_bodies_with_receipts_signed_like_the_sdk(mns: FakeMns) -> None:
    mns.put(b'{"kind":"trigger"}')
    received = _mns_queue(mns).receive(max_messages=16)
    assert [(m.message_id, m.body, m.receive_count) for m in received] == [("MSG0001", b'{"kind":"trigger"}', 1)]
    assert received[0].receipt.startswith("RH-")
    assert mns.requests == [("GET", "/queues/kyc-deadletter/messages?numOfMessages=16&waitseconds=0", True)]


def test_mns_receive_of_an_empty_queue_is_an_empty_list(mns: FakeMns) -> None:
    assert _mns_queue(mns).receive() == []


def test_mns_peek_changes_nothing(mns: FakeMns) -> None:
    mns.put(b"{}")
    queue = _mns_queue(mns)
    assert [m.receipt for m in queue.peek(5)] == [""]
    assert [m.receive_count for m in queue.receive()] == [1]
    assert all(signed for _, _, signed in mns.requests)


def test_mns_delete_removes_the_message_and_a_stale_receipt_is_false(mns: FakeMns) -> None:
    mns.put(b"{}")
    queue = _mns_queue(mns)
    receipt = queue.receive()[0].receipt
    assert queue.delete(receipt) is True
    assert queue.delete(receipt) is False
    assert mns.messages == [] and all(signed for _, _, signed in mns.requests)


def test_mns_change_visibility_makes_a_held_message_visible_again(mns: FakeMns) -> None:
    mns.put(b"{}")
    queue = _mns_queue(mns)
    receipt = queue.receive()[0].receipt
    assert queue.receive() == []
    queue.change_visibility(receipt, 1)
    mns.messages[0]["visible_at"] = 0.0  # the second is up: no need to wait for it
    assert len(queue.receive()) == 1


def test_mns_consumer_calls_with_a_wrong_secret_fail_with_the_mns_error_code(mns: FakeMns) -> None:
    from shared.storage import MnsError

    with pytest.raises(MnsError) as info:
        MnsQueue(mns.endpoint, "kyc-deadletter", Credentials("LTAI-test-id", "wrong", "sts-token-xyz")).peek()
    assert info.value.code == "SignatureDoesNotMatch"


def _aliyun_env(server: FakeMns) -> dict[str, str]:
    return {"KYC_BACKEND": "aliyun", "KYC_MNS_ENDPOINT": server.endpoint, "KYC_DEADLETTER_QUEUE": "kyc-deadletter",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": CREDS.access_key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET":
            CREDS.access_key_secret, "ALIBABA_CLOUD_SECURITY_TOKEN": CREDS.security_token or "",
            "KYC_TABLESTORE_ENDPOINT": "https://unused.invalid", "KYC_TABLESTORE_INSTANCE": "unused",
            "KYC_OSS_REGION": "cn-hongkong", "KYC_OSS_BUCKET": "unused"}


def test_dlq_list_and_purge_on_the_aliyun_backend(mns: FakeMns) -> None:
    mns.put(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": "{}"}), enqueued=time.time() - 7200)
    mns.put(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": "{}"}))
    env = _aliyun_env(mns)
    code, out, err = run(["dlq", "list"], env=env)
    assert code == 0, err
    assert [i["messageId"] for i in lines(out)] == ["MSG0001", "MSG0002"]
    code, out, err = run(["dlq", "purge", "--older-than", "1h", "--yes"], env=env)
    assert code == 0, err
    assert jsonutil.loads(out)["messageIds"] == ["MSG0001"]
    assert [m["id"] for m in mns.messages] == ["MSG0002"] and all(s for _, _, s in mns.requests)


# --- one behaviour for every command -----------------------------------------------------------------------


def only_the_data_dir() -> dict[str, str]:
    """What a person has in a fresh shell next to a running ./scripts/dev: nothing but (maybe) the data dir."""
    keep = {"PATH", "HOME", "LANG", "KYC_DATA_DIR", "KYC_LOG_LEVEL"}
    return {k: v for k, v in os.environ.items() if k in keep}


def test_every_command_finds_the_local_stack_s_keys_pepper_and_ports_the_same_way(stack: DevStack) -> None:
    env = only_the_data_dir()
    code, out, err = run(["initialize", "--user", "erin", "--doc-type", "01000000", "--meta-info", "{}"], env)
    assert code == 0, err
    started = jsonutil.loads(out)
    assert f"note: using the settings of the ./scripts/dev stack running as process {os.getpid()}" in err
    complete(stack, started["transactionId"])
    code, out, err = run(["refetch", started["merchantBizId"]], env)  # the sandbox's key, from the stack's file
    assert code == 0, err
    assert jsonutil.loads(out)["status"] == "PASSED"
    code, out, err = run(["invoke", "sweeper", "--event-file", str(EVENTS / "timer.json")], env)  # its port
    assert code == 0, err
    code, out, err = run(["erase", "--user", "erin", "--yes"], env)  # the same pepper as the initializer's
    assert code == 0, err
    assert jsonutil.loads(out)["erased"] == 1


def test_a_command_whose_settings_are_all_set_does_not_mention_the_stack(stack: DevStack) -> None:
    code, _, err = run(["list"], dict(os.environ))
    assert code == 0 and "./scripts/dev" not in err


def test_a_real_vendor_in_the_environment_is_never_mixed_with_the_sandbox_s_key(stack: DevStack) -> None:
    env = {**only_the_data_dir(), "CLOUDAUTH_ENDPOINT": "https://cloudauth-intl.cn-hongkong.aliyuncs.com"}
    code, _, err = run(["check-result", "--merchant-biz-id", "b", "--transaction-id", "t"], env)
    assert code == 2 and "ALIBABA_CLOUD_ACCESS_KEY_ID" in err


def test_empty_lists_say_so(stack: DevStack, local_env: dict[str, str]) -> None:
    code, out, err = run(["list", "--status", "FAILED"])
    assert (code, out, err.strip()) == (0, "", "note: no transactions match")
    code, out, err = run(["dlq", "list"], local_env)
    assert (code, out, err.strip()) == (0, "", "note: the dead-letter queue is empty")


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_went_away_ends_the_command_quietly(stack: DevStack) -> None:
    start_verification(stack)
    err = io.StringIO()
    code = kyc.main(["list"], env=dict(os.environ), stdout=ClosedPipe(), stderr=err)
    assert (code, err.getvalue()) == (141, "")


def test_list_piped_into_head_prints_one_line_and_no_traceback(stack: DevStack) -> None:
    store = open_transaction_store(StorageSettings.from_env())
    for i in range(3000):  # far more than a pipe buffer holds
        store.create(TransactionRecord(merchant_biz_id=f"pipe{i:05d}", transaction_id=f"t{i}", merchant_user_id="u",
                                       doc_type="01000000", created_at=1.0 + i, updated_at=1.0 + i))
    proc = subprocess.run(
        f"{sys.executable} -m tools.ops.kyc list --limit 3000 | head -1", shell=True,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert len(proc.stdout.splitlines()) == 1 and jsonutil.loads(proc.stdout)["merchantBizId"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_erase_at_a_terminal_shows_its_progress_and_piped_shows_none(stack: DevStack) -> None:
    finalized(stack, "carol")
    finalized(stack, "carol")
    err = Tty()
    code = kyc.main(["erase", "--user", "carol", "--yes"], env=dict(os.environ), stdout=io.StringIO(), stderr=err)
    assert code == 0
    assert "\rerase: 2/2 (100%) transactions" in err.getvalue() and err.getvalue().endswith("\n")
    code, _, piped = run(["sweep"])
    assert code == 0 and "\r" not in piped


@pytest.mark.parametrize("fc2", [False, True])
def test_invoke_against_a_closed_port_fails_in_seconds_with_one_line(fc2: bool) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["invoke", "sweeper", "--event-file", str(EVENTS / "timer.json"), "--endpoint", f"http://127.0.0.1:{port}"]
    started = time.monotonic()
    code, out, err = run([*args, "--service", "s"] if fc2 else args, {"PATH": os.environ.get("PATH", "")})
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith(f"error: TransportError: cannot reach http://127.0.0.1:{port}")
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert time.monotonic() - started < 10  # the SDK's own retries took about 30 s
