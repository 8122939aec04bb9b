"""`kyc sweep` and `kyc refetch` on a deployment without the deployment's KYC_DELETE_VENDOR_COPY (reviews ai, aj:
tools/ops/transactions.py _check_deployment_settings), whatever spelling of KYC_BACKEND the storage accepts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.config import ConfigError
from shared.sweeper import OUTBOX_GRACE_SECONDS
from tests.fakes import FakeCloudAuth, Stack, check_result_body
from tools.ops import kyc, transactions
from tools.ops.common import Context


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def _operator_context(stack: Stack, vendor: FakeCloudAuth, env: dict[str, str]) -> tuple[Context, io.StringIO]:
    stores = SimpleNamespace(
        transactions=stack.store,
        objects=stack.objects,
        queue=lambda name: {"recheck": stack.recheck, "notify": stack.notify, "deadletter": stack.deadletter}[name],
    )
    err = io.StringIO()
    ctx = Context(env=env, stdout=io.StringIO(), stderr=err, stdin=io.StringIO(),
                  client_factory=lambda env: vendor,  # type: ignore[arg-type,return-value]
                  stores_factory=lambda env: stores,  # type: ignore[arg-type,return-value]
                  clock=stack.clock)
    return ctx, err


def test_a_refetch_of_a_deployment_leaves_the_vendor_copy_deletion_to_the_deployment_or_refuses(
    stack: Stack,
) -> None:
    """An operator's shell on a deployment (KYC_BACKEND=aliyun, no running ./scripts/dev) without
    KYC_DELETE_VENDOR_COPY: `kyc refetch` finalizes the row with the code's N, so mark_notification_enqueued takes
    the verdict out of the outbox (vendor_copy_pending=False) and the deployment's own sweeper (Y) never deletes the
    vendor's copy: the same defect review ai fixed for `kyc sweep` by a refusal `refetch` does not have."""
    vendor = FakeCloudAuth(check_result_body("Y"))
    record = stack.pending()
    ctx, _ = _operator_context(stack, vendor, {"KYC_BACKEND": "aliyun"})
    args = kyc.build_parser().parse_args(["refetch", record.merchant_biz_id])
    try:
        transactions.run_refetch(args, ctx)
    except ConfigError:
        return  # refused, as `kyc sweep` is: nothing owed was taken out of the outbox
    # The deployment's own sweeper, as s.yaml configures it (KYC_DELETE_VENDOR_COPY=Y).
    deployment = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True))
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    deployment.sweep()
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status.is_verdict
    assert record.transaction_id in vendor.delete_calls, (
        "the verdict kept by `kyc refetch` left the outbox, and the deployment's sweeper never deletes its vendor copy"
    )


@pytest.mark.parametrize("backend", ["aliyun", "Aliyun", "ALIYUN"])
def test_a_sweep_refuses_a_deployment_without_kyc_delete_vendor_copy_whatever_the_backend_s_case(
    stack: Stack, backend: str
) -> None:
    """StorageSettings reads KYC_BACKEND stripped and lower-cased (so `Aliyun` opens Tablestore/OSS/MNS), but the
    refusal compares it stripped and case-sensitively: `KYC_BACKEND=Aliyun` sweeps the deployment with the code's N,
    the very outbox damage the refusal was added for."""
    vendor = FakeCloudAuth(check_result_body("Y"))
    ctx, _ = _operator_context(stack, vendor, {"KYC_BACKEND": backend})
    args = kyc.build_parser().parse_args(["sweep"])
    with pytest.raises(ConfigError, match="KYC_DELETE_VENDOR_COPY"):
        transactions.run_sweep(args, ctx)
