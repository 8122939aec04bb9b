"""Transaction commands: ``status``, ``list``, ``refetch``, ``sweep``, ``erase``.

They open the configured backend through :mod:`shared.storage` (``KYC_BACKEND=local|aliyun`` and its variables)
and run the very code the functions run, built as the functions build it (:mod:`shared.wiring`).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any

from shared.cloudauth import CloudAuthError, DeleteVerifyResultResponse, ThrottlingError, TransactionIdInvalid
from shared.config import ConfigError, is_aliyun_backend
from shared.fetch_settings import OUTBOX_WINDOW_SECONDS, vendor_may_still_keep
from shared.ids import result_prefix
from shared.log import register_secret
from shared.status import Status
from shared.storage import StorageError, TransactionRecord, TransactionStore
from shared.timestamps import rfc3339
from shared.values import replace
from shared.wiring import build_fetcher, build_sweeper
from tools.localstack import ResolvedEnv
from tools.progress import Progress

if TYPE_CHECKING:
    from shared.fetcher import ResultFetcher

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    OpsError,
    UsageError,
    add_yes,
    merchant_biz_id_arg,
    parse_since,
    record_view,
    user_id_hash,
)

MAX_LIST = 10_000
ERASE_PASSES = 3
THROTTLED_WAITS = (1.0, 2.0, 4.0)  # seconds before each new try of a throttled deletion: a QPS window frees up
UNKNOWN_TOO_EARLY = (
    "not confirmed: unknown to the vendor within its 30 days; check that CLOUDAUTH_* and the keys are the "
    "deployment's, then run erase again (--accept-unknown if they are, or if a local ./scripts/dev restarted: its "
    "sandbox forgets its transactions)"
)


#: Said of a verdict whose row erase deleted without finding one of its objects: an earlier run or retention may have
#: deleted them, or this shell names another bucket or prefix than the deployment, and then its result is still there
#: with nothing leading to it (review bc; refusing instead needs to know which, see docs/operations.md).
NO_OBJECT_FOUND = (
    "no object of this verdict was found: unless an earlier erase or retention deleted them, KYC_OSS_BUCKET/"
    "KYC_OSS_PREFIX are not the deployment's and its result is left in the deployment's bucket under "
    "<its KYC_OSS_PREFIX>{prefix}: delete it there"
)


def _fetcher(ctx: Context) -> ResultFetcher:
    return build_fetcher(ctx.env, client=ctx.client(), stores=ctx.stores())


# --- status ----------------------------------------------------------------------------------------------


def configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("merchant_biz_id", metavar="merchantBizId", type=merchant_biz_id_arg)


def run_status(args: argparse.Namespace, ctx: Context) -> int:
    record = ctx.stores().transactions.get(args.merchant_biz_id)
    if record is None:
        raise OpsError("no transaction with this merchantBizId", "NotFound")
    ctx.print_json(record_view(record))
    return EXIT_OK


# --- list ------------------------------------------------------------------------------------------------


def configure_list(parser: argparse.ArgumentParser) -> None:
    statuses = sorted(s.value for s in Status if s is not Status.RATE_SLOT)  # RATE_SLOT rows are gone (a migration)
    parser.add_argument("--status", type=str.upper, choices=statuses)
    parser.add_argument(
        "--since", help="created at or after: an ISO date/time (UTC unless it has an offset) or an age like 24h, 7d"
    )
    parser.add_argument("--until", help="created before: an ISO date/time or an age, like --since")
    parser.add_argument("--newest-first", action="store_true", help="newest first (default: oldest first)")
    parser.add_argument("--limit", type=int, default=100, help=f"at most this many rows (1-{MAX_LIST}; default 100)")


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    """Verifications in creation order, read page by page through the creation-time index (rows read: the rows of
    the period; with ``--status``, other statuses of the period are read and skipped)."""
    if not 1 <= args.limit <= MAX_LIST:
        raise UsageError(f"--limit must be between 1 and {MAX_LIST}")
    since = parse_since(args.since, "--since", ctx.clock()) if args.since is not None else None
    until = parse_since(args.until, "--until", ctx.clock()) if args.until is not None else None
    store = ctx.stores().transactions
    printed = 0
    cursor: str | None = None
    while printed < args.limit:
        rows, cursor = store.list_created(
            since=since, until=until, status=args.status, limit=min(100, args.limit - printed), cursor=cursor,
            newest_first=args.newest_first,
        )
        for row in rows:
            ctx.print_json(record_view(row))
            printed += 1
        if not cursor:
            break
    if cursor and printed >= args.limit:
        ctx.note(f"stopped at --limit {args.limit}; more rows match")
    if not printed:
        ctx.note("no transactions match")
    return EXIT_OK


# --- refetch ---------------------------------------------------------------------------------------------


def configure_refetch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("merchant_biz_id", metavar="merchantBizId", type=merchant_biz_id_arg)


def run_refetch(args: argparse.Namespace, ctx: Context) -> int:
    from shared.fetcher import RecheckNotScheduled  # noqa: PLC0415

    _check_deployment_settings(ctx, "refetch")
    mbid = args.merchant_biz_id
    record = ctx.stores().transactions.get(mbid)
    if record is None:
        raise OpsError("no transaction with this merchantBizId", "NotFound")
    if record.is_final:
        ctx.note(f"the transaction is already final ({record.status}); nothing to fetch")
        ctx.print_json({"merchantBizId": mbid, "outcome": "already_final", "status": record.status})
        return EXIT_OK
    try:
        outcome = _fetcher(ctx).fetch(mbid)
    except RecheckNotScheduled:
        raise OpsError("still pending and the re-check could not be queued", "RecheckNotScheduled") from None
    # A fetch that kept nothing leaves the row as it was: its status is still the one read above
    unchanged = outcome.kind in ("pending", "retry_later", "failed", "duplicate")
    ctx.print_json(
        {
            "merchantBizId": mbid,
            "outcome": outcome.kind,
            "status": outcome.status or (record.status if unchanged else None),
            "error": outcome.error,
            "nextCheckIn": outcome.next_check_in,
        }
    )
    if outcome.kind == "failed":
        ctx.note("the vendor no longer knows this transaction; the sweeper abandons it once it is old enough")
        return EXIT_FAILED
    if outcome.kind == "retry_later":  # nothing was fetched: a script must not read this as done
        ctx.note(f"nothing fetched ({outcome.error}); the transaction is checked again later")
        return EXIT_FAILED
    if outcome.kind == "erasure_pending":  # the tombstone stays: a script must not read this as done either
        why = f"the vendor's deletion failed ({outcome.error})" if outcome.error else "the vendor keeps the flow"
        ctx.note(f"an erased flow: {why}; the sweeper tries again hourly (nothing of it is kept or announced)")
        return EXIT_FAILED
    return EXIT_OK


# --- sweep -----------------------------------------------------------------------------------------------


def configure_sweep(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: KYC_SWEEP_AFTER, KYC_ABANDON_AFTER, KYC_RETENTION_DAYS, KYC_SWEEP_BATCH apply


#: What a sweep or a refetch of a deployment must be told as the deployment's own functions are (s.yaml): with another
#: value they settle the outbox otherwise (reviews ai, aj: a shell without it, the code's N against every
#: deployment's Y, took verdicts whose vendor copy the deployment still had to delete out of the due index, and
#: nothing deleted them).
MUST_MATCH_THE_DEPLOYMENT = ("KYC_DELETE_VENDOR_COPY",)


def _check_deployment_settings(ctx: Context, command: str) -> None:
    """``command`` (a sweep, a refetch) on a deployment, the aliyun backend with no running ./scripts/dev to take the
    settings from, needs ``MUST_MATCH_THE_DEPLOYMENT`` set: the code's default is the local stack's, not the
    deployment's. (``./scripts/dev`` writes them out: its shells carry them.)"""
    env = ctx.env
    if isinstance(env, ResolvedEnv) and env.stack is not None:
        return  # the running stack's settings: its own functions'
    if not is_aliyun_backend(env):
        return
    for name in MUST_MATCH_THE_DEPLOYMENT:
        if not (env.get(name) or "").strip():
            raise ConfigError(name, f"is required to {command} a deployment: set it as the deployment does (s.yaml: Y)")


def run_sweep(args: argparse.Namespace, ctx: Context) -> int:
    _check_deployment_settings(ctx, "sweep")
    sweeper = build_sweeper(ctx.env, client=ctx.client(), stores=ctx.stores(), clock=ctx.clock)
    with Progress("sweep", stream=ctx.stderr, unit="verifications checked") as progress:
        fetch = sweeper.fetcher.fetch
        failed: dict[str, str] = {}  # merchantBizId -> the error of its check that fetched nothing

        def counted(merchant_biz_id: str, **options: Any) -> Any:
            try:
                outcome = fetch(merchant_biz_id, **options)
                if outcome.kind == "retry_later":
                    failed[merchant_biz_id] = outcome.error or "unknown"
                return outcome
            finally:
                progress.advance()

        setattr(sweeper.fetcher, "fetch", counted)  # noqa: B010 - count this run's fetches, on this instance only
        report = sweeper.sweep()
    fetch_errors = _still_pending_errors(ctx, failed)
    ctx.print_json({**report.as_dict(), "fetchErrors": fetch_errors})
    if fetch_errors:  # a script must not read a sweep whose every vendor call failed as done (as for refetch)
        ctx.note(f"{sum(fetch_errors.values())} checks fetched nothing (vendor or storage errors: fetchErrors); "
                 "those verifications are checked again later")
    return EXIT_FAILED if report.errors or fetch_errors else EXIT_OK


def _still_pending_errors(ctx: Context, failed: dict[str, str]) -> dict[str, int]:
    """Error code -> how many rows a check left pending with it: the rows the pass then abandoned (past their
    deadline, or refused for good) are done, not waiting (one read per failed check, never the table)."""
    counts: dict[str, int] = {}
    for merchant_biz_id, code in failed.items():
        row = ctx.stores().transactions.get(merchant_biz_id)
        if row is not None and row.status is Status.PENDING:
            counts[code] = counts.get(code, 0) + 1
    return counts


# --- erase -----------------------------------------------------------------------------------------------


def configure_erase(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the merchant's user id, as given to the frontend's JWT (sub)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be erased; change nothing")
    parser.add_argument(
        "--accept-unknown", action="store_true",
        help="count a transaction the vendor does not know as erased even within its 30 days (after checking that "
             "CLOUDAUTH_* and the keys are the deployment's)",
    )
    add_yes(parser)


def _pepper(ctx: Context) -> str:
    """The initializer's pepper, ``KYC_USER_ID_PEPPER`` (locally: the one ``./scripts/dev`` generated, found like
    every setting, :mod:`tools.localstack`). Never a fallback: a wrong pepper would find and erase nothing."""
    from shared.verifications import user_id_pepper  # noqa: PLC0415

    if not register_secret((ctx.env.get("KYC_USER_ID_PEPPER") or "").strip()):
        raise ConfigError("KYC_USER_ID_PEPPER", "is required to find a user's transactions (the initializer's value)")
    return user_id_pepper(ctx.env)  # the initializer's rule: a shorter one hashed no row


def run_erase(args: argparse.Namespace, ctx: Context) -> int:
    user_hash = user_id_hash(args.user, _pepper(ctx))
    stores = ctx.stores()
    records = _users_rows(stores.transactions, user_hash)
    items: list[dict[str, Any]] = []
    failures = 0
    progress = Progress("erase", len(records), stream=ctx.stderr, unit="transactions")
    seen = {r.merchant_biz_id for r in records}
    kept_appearing = False
    confirmed = args.dry_run
    for _ in range(ERASE_PASSES):
        if records and not confirmed:  # before the first deletion, whichever listing found the rows
            ctx.confirm(f"erase {len(records)} transaction(s) of this user (and any that appear meanwhile): vendor "
                        "copies, result objects and rows", args)
            confirmed = True
        failures += _erase_each(records, args, ctx, items, progress)
        if args.dry_run:
            break
        # The user index lags the table by milliseconds: a row written just before the first listing may show up
        # only now. Erase those too (they are this user's), then look once more.
        records = [r for r in _users_rows(stores.transactions, user_hash) if r.merchant_biz_id not in seen]
        if not records:
            break
        progress.update(total=(progress.total or 0) + len(records))
        seen.update(r.merchant_biz_id for r in records)
    else:
        ctx.note("new transactions of this user kept appearing while erasing: run erase again")
        kept_appearing = True
    progress.close()
    ctx.print_json(
        {
            "merchantUserId": user_hash,
            "dryRun": args.dry_run,
            "transactions": items,
            "erased": 0 if args.dry_run else len(items) - failures,
            "failed": failures,
            "newKeptAppearing": kept_appearing,
        }
    )
    if not items:
        ctx.note("no transactions found for this user (check KYC_USER_ID_PEPPER if you expected some)")
    if warned := sum("warning" in item for item in items):
        ctx.note(f"{warned} verdict(s) erased without finding any of their objects: read their warning")
    return EXIT_FAILED if failures or kept_appearing else EXIT_OK


def _users_rows(store: TransactionStore, user_hash: str) -> list[TransactionRecord]:
    """Every row of the user, through the user index (rows read: the user's rows, never the table)."""
    records: list[TransactionRecord] = []
    cursor: str | None = None
    while True:
        page, cursor = store.list_by_user(user_hash, limit=100, cursor=cursor)
        records.extend(page)
        if not cursor:
            return records


def _delete_at_vendor(ctx: Context, transaction_id: str) -> DeleteVerifyResultResponse:
    """DeleteVerifyResult, waiting ``THROTTLED_WAITS`` and trying again while the vendor throttles: the client's own
    retries span under a second, and a user's many transactions erased one after another outrun a per-second QPS
    (the local sandbox's is 10). Still throttled after the last wait: ``ThrottlingError`` (the row is kept)."""
    for wait in (*THROTTLED_WAITS, None):
        try:
            # N: an erasure deletes what the vendor holds, whether or not its result was ever read.
            return ctx.client().delete_verify_result(transaction_id, delete_after_query=False)
        except ThrottlingError:
            if wait is None:
                raise
            ctx.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _tombstone(store: TransactionStore, record: TransactionRecord, now: float) -> TransactionRecord | None:
    """Make an unfinished row (PENDING, ABANDONED) an ERASED tombstone before anything else is deleted: from then
    on no fetch keeps or announces its flow, should the person finish it (the fetch deletes the vendor's copy and
    the row instead, ``shared.fetcher``). The row as the rest of the erasure works on: the tombstone, the verdict
    that won meanwhile (a verdict is erased like any), or None when it is gone."""
    if store.mark_erased(record.merchant_biz_id, now):
        return replace(record, status=Status.ERASED, updated_at=now)
    return store.get(record.merchant_biz_id)


def _erase_each(
    records: list[TransactionRecord], args: argparse.Namespace, ctx: Context, items: list[Any], progress: Progress
) -> int:
    """Erase (or, with ``--dry-run``, describe) each record (:func:`_erase_one`); returns the failures."""
    failures = 0
    for record in records:
        progress.advance()
        item: dict[str, Any] = {"merchantBizId": record.merchant_biz_id, "status": record.status,
                                "createdAt": rfc3339(record.created_at)}
        if args.dry_run:
            objects = len(ctx.stores().objects.list(result_prefix(record.merchant_biz_id)))
            item.update(_dry_run_outcome(record, ctx.clock()), objects=objects)
        elif not _erase_one(record, args, ctx, item):
            failures += 1
        items.append(item)
    return failures


def _dry_run_outcome(record: TransactionRecord, now: float) -> dict[str, str]:
    """What :func:`_erase_one` would do with ``record`` when every call succeeds and the vendor answers as it last
    did (review aq: the dry run said "would delete" of rows the run keeps as tombstones; review at: and "kept" of a
    tombstone whose vendor copy is gone, which the run deletes)."""
    if record.vendor_copy_deleted:
        return {"vendor": "already deleted", "row": "would delete"}
    if record.status.is_verdict or not vendor_may_still_keep(record, now):  # past the vendor's 30 days: forgotten
        return {"vendor": "would delete", "row": "would delete"}
    return {"vendor": "would ask to delete (the vendor keeps a flow the person has not finished)",
            "row": "would be kept as ERASED until the vendor deletes the flow (at once if the person finished it; "
                   "else the sweeper asks hourly, up to the vendor's 30 days)"}


def _erase_one(listed: TransactionRecord, args: argparse.Namespace, ctx: Context, item: dict[str, Any]) -> bool:
    """Erase one transaction, saying in ``item`` what became of each part; False when something is left to retry.
    Order of effects: an unfinished row becomes an ERASED tombstone (:func:`_tombstone`), the vendor's copy is
    deleted, then the objects and the row. While the vendor's copy is not deleted the row is kept (with its objects
    deleted): it holds the TransactionId to ask again with. A tombstone whose flow the vendor keeps (unfinished) is
    no failure: the sweeper asks hourly and deletes it by the vendor's 30 days' end."""
    from shared.fetcher import delete_kept_result  # noqa: PLC0415

    stores = ctx.stores()
    mbid = listed.merchant_biz_id
    prefix = result_prefix(mbid)
    record: TransactionRecord | None = listed
    if not listed.status.is_verdict:
        try:
            record = _tombstone(stores.transactions, listed, ctx.clock())
        except StorageError as exc:
            item.update(vendor="not asked", row=f"error: {exc.code}")
            return False
    if record is None:  # deleted meanwhile (a fetch that finished an earlier erasure, retention)
        item.update(vendor="not asked", objects=stores.objects.delete_prefix(prefix), row="already gone")
        return True
    vendor_ok, waits_for_the_flow = True, False
    try:
        answer = _delete_at_vendor(ctx, record.transaction_id)
        if answer.deleted:
            item["vendor"] = "deleted"
        elif record.status is Status.ERASED:
            # Unfinished (the person never finished): the vendor deletes a flow "after you complete the product
            # flow" ("删除认证记录"), and forgets it at its 30 days' end. That it answers DeleteResult N for such a flow
            # (not an error) is *unverified*: the page says nothing of it (an error is retried the same way).
            item["vendor"] = (f"not deleted (DeleteResult {answer.delete_result or 'N'}): the flow is unfinished "
                              "at the vendor, which keeps it up to its 30 days")
            vendor_ok, waits_for_the_flow = False, True
        else:
            # A verdict the vendor refuses to delete (DeleteResult N): retry later.
            item["vendor"] = f"not deleted (DeleteResult {answer.delete_result or 'N'})"
            vendor_ok = False
    except TransactionIdInvalid:
        # The row as it is now: the fetcher may have deleted the vendor's copy since the listing, or finished this
        # erasure (the person finished the flow: the vendor's copy and the row are gone).
        try:
            current = stores.transactions.get(mbid)
        except StorageError:
            current = record
        if current is not None and vendor_may_still_keep(current, ctx.clock()) and not args.accept_unknown:
            item["vendor"] = UNKNOWN_TOO_EARLY
            vendor_ok = False
        else:
            item["vendor"] = "unknown to the vendor (already deleted or past its 30 days)"
    except CloudAuthError as exc:
        item["vendor"] = f"error: {exc.code}"
        vendor_ok = False
    try:
        if item["vendor"] == "deleted":
            _record_vendor_deletion(stores.transactions, mbid)
        if vendor_ok:
            item["objects"] = delete_kept_result(stores.transactions, stores.objects, mbid)
            item["row"] = "deleted"
            if item["objects"] == 0 and record.status.is_verdict and record.result_key is not None:
                item["warning"] = NO_OBJECT_FOUND.format(prefix=prefix)
        else:
            item["objects"] = stores.objects.delete_prefix(prefix)
            item["row"] = _kept_row(record, waits_for_the_flow)
    except StorageError as exc:
        item["row"] = f"error: {exc.code}"
        return False
    return vendor_ok or waits_for_the_flow


def _record_vendor_deletion(transactions: TransactionStore, mbid: str) -> None:
    """Record that the vendor deleted its copy, before the objects and the row go: if they fail (the row is kept),
    a run again takes the vendor's "unknown" for what it is, this deletion, not a shell that calls another region.
    A failure to record does not stop the erasure (review bc; ``finish_erasure`` likewise): deleting the row makes the
    record moot, and stopping here would keep the images until the vendor's 30 days end."""
    with contextlib.suppress(StorageError):
        transactions.mark_vendor_copy_deleted(mbid)


def _kept_row(record: TransactionRecord, waits_for_the_flow: bool) -> str:
    """What ``item["row"]`` says of a row kept because the vendor's copy is not deleted yet."""
    if record.status is not Status.ERASED:
        return "kept: run erase again to retry the vendor deletion"
    by = rfc3339(record.created_at + OUTBOX_WINDOW_SECONDS)
    if waits_for_the_flow:
        return ("kept as ERASED (the TransactionId only; nothing of this flow will be kept or announced): the "
                f"sweeper deletes the vendor's copy once the flow is complete, and the row by {by}")
    return ("kept as ERASED (nothing of this flow will be kept or announced): run erase again to retry the vendor "
            f"deletion; the sweeper tries it hourly too, and deletes the row by {by}")
