"""The result fetcher's settings, apart from the fetcher: the sweeper checks them when it starts and builds its
fetcher only when a pass has work for it (:mod:`shared.sweeper`), so reading them must not load the fetching code.
Also the vendor's retention window, which the fetcher, the sweeper and ``kyc erase`` judge its answers by."""

from __future__ import annotations

from shared.config import Env, env_bool, env_schedule, environ
from shared.values import valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from shared.storage import TransactionRecord

DEFAULT_RECHECK_SCHEDULE = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)

#: "ID Verification:CheckResult" (the vendor's API page): "The ID Verification service stores verification results
#: for 30 days by default ... automatically deleted afterward"; eKYC_PRO's CheckResult page (oce0nqzn6tkr2qqq-1, en,
#: Feb 07, 2026) says the same ("results are stored for 30 days and then automatically deleted. You must retrieve the
#: verification results within 30 days"); the CheckResult page of the liveness solutions (liveness-checkresult-2,
#: en, Sep 22, 2025) says from when: "You must query the results within 30 days after the authentication process is
#: complete." Counted here from the row's creation, which is never later than the completion. Before it completes:
#: ``V2_FINISH_WITHIN_SECONDS`` for a transaction started with InitializeV2; for one started with Initialize that
#: time is *unverified* (assumed well under 30 days).
VENDOR_RESULT_DAYS = 30
#: "ID Verification:InitializeV2" (FACE_LIVENESS_PRO, help/zh/ekyc/latest/liveness-initialize-1, 接入注意事项):
#: "客户端须在获取 TransactionId 或 TransactionUrl 后的 30 分钟内完成认证" — the person must finish within 30 minutes of
#: the TransactionId (ID_OCR_PRO's InitializeV2 page, help/zh/ekyc/latest/initializev2, Sep 15, 2026, the same
#: sentence under "认证时效要求"). eKYC_PRO's InitializeV2 page (pro-init) has the same section, its text cut off
#: where we could read it: *unverified* for eKYC_PRO (should its window be longer, an abandonment there is replaced
#: by the late verdict, as any). What the vendor answers for such a flow afterwards is undocumented (the
#: sandbox: ProcessNotCompleted, as before); the sweeper abandons it once its fetch still says unfinished this long
#: after it started plus ``V2_EXPIRY_GRACE_SECONDS`` (the vendor's clock against ours, and a flow finished in its
#: last minute), instead of waiting for ``KYC_ABANDON_AFTER``.
V2_FINISH_WITHIN_SECONDS = 30 * 60.0
V2_EXPIRY_GRACE_SECONDS = 10 * 60.0
OUTBOX_WINDOW_SECONDS = (VENDOR_RESULT_DAYS + 1) * 86400.0  # no older copy is left to delete


def vendor_may_still_keep(record: TransactionRecord, now: float) -> bool:
    """Whether the vendor could still hold this transaction's copy: created within its 30 days (and a day), and not
    deleted by this deployment. Its "unknown" then more likely means that the caller calls another region, endpoint
    or account than the one that started it (as for the fetcher's ``fetch.transaction_unknown_to_vendor``) than
    that the copy is gone: a deletion is not taken as done on that answer."""
    return not record.vendor_copy_deleted and record.created_at > now - OUTBOX_WINDOW_SECONDS


@valueclass
class FetchSettings:
    """What the result fetcher (and the sweeper) need to fetch and keep results."""

    recheck_schedule: tuple[float, ...]
    delete_vendor_copy: bool

    @classmethod
    def from_env(cls, env: Env | None = None) -> FetchSettings:
        env = environ() if env is None else env
        return cls(
            recheck_schedule=env_schedule(env, "KYC_RECHECK_SCHEDULE", DEFAULT_RECHECK_SCHEDULE),
            delete_vendor_copy=env_bool(env, "KYC_DELETE_VENDOR_COPY", False),
        )
