"""``setup-tables``: create or check the Tablestore tables and indexes of the aliyun backend, and migrate old rows.

It needs only the Tablestore variables (``KYC_BACKEND=aliyun``, ``KYC_TABLESTORE_ENDPOINT``,
``KYC_TABLESTORE_INSTANCE``, ``KYC_TABLESTORE_TABLE``, the AccessKey). The definitions are
:mod:`shared.storage.tablestore_schema` (the same ones template.yml declares and the local stack and the tests
create). Idempotent: a second run creates nothing. With ``--check`` nothing is created. With ``--backfill`` rows
written before the indexes existed get their index columns (a one-time whole-table pass, an operator's migration:
``TablestoreTransactionStore.backfill_index_columns``). Exit 0 when everything matches, 1 when drift remains (each
item says what differs and how to fix it).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from .common import EXIT_FAILED, EXIT_OK, Context, UsageError


def configure_setup_tables(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only check and report drift; create nothing")
    parser.add_argument(
        "--backfill", action="store_true",
        help="also give rows written before the indexes existed their index columns (reads the whole table once)",
    )  # fmt: skip


def run_setup_tables(args: argparse.Namespace, ctx: Context) -> int:
    from shared.storage import (  # noqa: PLC0415 - loads the adapter
        StorageSettings,
        TablestoreTransactionStore,
        open_transaction_store,
    )

    if ctx.stores_factory is not None:  # tests and tools hand the stores in
        store = ctx.stores().transactions
    else:  # only the Tablestore variables: this may run before the stack has a bucket or queues
        settings = StorageSettings.from_env(ctx.env, tablestore_only=True)
        if settings.backend != "aliyun":
            _refuse_tablestore_settings_without_the_backend(ctx.env)
            return _nothing_to_do_locally(ctx)  # without opening (creating) the local store
        store = open_transaction_store(settings)
    if not isinstance(store, TablestoreTransactionStore):
        return _nothing_to_do_locally(ctx)
    report = store.ensure_tables(create=not args.check)
    result: dict[str, Any] = {"backend": "aliyun", "table": store.table, **report.as_dict()}
    if args.backfill and report.ok and not args.check:
        result["backfill"] = store.backfill_index_columns()
    elif args.backfill:
        ctx.note("not backfilling: fix the drift first (and drop --check)")
    ctx.print_json(result)
    for item in [*report.drift, *report.notes]:
        ctx.note(item)
    return EXIT_OK if report.ok else EXIT_FAILED


def _refuse_tablestore_settings_without_the_backend(env: Mapping[str, str]) -> None:
    """Tablestore's variables without ``KYC_BACKEND=aliyun``: a drift check that forgot the backend would otherwise
    pass on the local store (and create it) whatever the tables are (review be)."""
    named = [name for name in ("KYC_TABLESTORE_ENDPOINT", "KYC_TABLESTORE_INSTANCE") if env.get(name)]
    if named:
        raise UsageError(f"{' and '.join(named)} set but KYC_BACKEND is not aliyun: set KYC_BACKEND=aliyun to "
                         "check or create the Tablestore tables", code="BackendNotSet")


def _nothing_to_do_locally(ctx: Context) -> int:
    ctx.note("the local backend creates its tables and indexes when it opens its database: nothing to do")
    ctx.print_json({"backend": "local", "drift": [], "ok": True})
    return EXIT_OK
