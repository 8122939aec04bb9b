"""What every ``./scripts/kyc`` command shares: the run context, usage errors, exit codes, small parsers.

Commands live in modules under ``ops/`` and are registered in :data:`ops.kyc.COMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from shared import jsonutil
from shared.cloudauth import CloudAuthClient
from shared.ids import MERCHANT_BIZ_ID_RULE, is_merchant_biz_id
from shared.timestamps import rfc3339
from shared.wiring import build_cloudauth_client

if TYPE_CHECKING:
    from shared.storage import Stores, TransactionRecord

EXIT_OK, EXIT_VENDOR, EXIT_USAGE = 0, 1, 2
#: Exit status of an operation that ran but did not (fully) succeed: not found, partial failure, storage error.
EXIT_FAILED = 1


def caller_path(value: str) -> Path:
    """A path the operator typed, taken from where they ran ``./scripts/kyc`` (``KYC_CALLER_DIR``, which the script
    sets before it moves to the project's root to run), not from the project's root."""
    path = Path(value).expanduser()
    caller = os.environ.get("KYC_CALLER_DIR")
    return path if path.is_absolute() or not caller else Path(caller) / path


class UsageError(Exception):
    """Bad command-line input: printed as ``error: <code>: <message>``, exit 2."""

    def __init__(self, message: str, code: str = "InvalidParameter") -> None:
        super().__init__(message)
        self.code = code


class OpsError(Exception):
    """An operation failed (not found, refused, partly failed): ``error: <code>: <message>``, exit 1."""

    def __init__(self, message: str, code: str = "Failed") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Context:
    env: Mapping[str, str]
    stdout: TextIO
    stderr: TextIO
    client_factory: Callable[[Mapping[str, str]], CloudAuthClient] | None = None
    stdin: TextIO | None = None
    stores_factory: Callable[[Mapping[str, str]], Stores] | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _client: CloudAuthClient | None = field(default=None, repr=False)
    _stores: Stores | None = field(default=None, repr=False)

    def client(self) -> CloudAuthClient:
        if self._client is None:
            factory = self.client_factory or build_cloudauth_client
            self._client = factory(self.env)
        return self._client

    def stores(self, *, create: bool = False) -> Stores:
        """The configured backend (``KYC_BACKEND`` and its variables, exactly as the functions read them). Locally,
        ``UsageError`` (exit 2: a setting) when the data directory holds no database at all, unless the command
        ``create``s data (starts a verification): every other command reads or changes what a stack left there."""
        if self._stores is None:
            if self.stores_factory is not None:
                self._stores = self.stores_factory(self.env)
            else:
                from shared.storage import StorageSettings, open_stores  # noqa: PLC0415
                from shared.storage.settings import QUEUES_FILE, TRANSACTIONS_FILE  # noqa: PLC0415

                settings = StorageSettings.from_env(self.env)
                databases = (os.path.join(settings.data_dir, name) for name in (TRANSACTIONS_FILE, QUEUES_FILE))
                if settings.backend == "local" and not create and not any(map(os.path.isfile, databases)):
                    # Opening would create an empty database there: a mistyped or unset KYC_DATA_DIR, or the data
                    # directory of a stack on the doubles (which keep their rows in memory), would read as an empty
                    # system ("no transactions match") instead of the wrong place.
                    raise UsageError(f"no local data in {settings.data_dir}: no stack on the local backend has run "
                                     "there (./scripts/dev uses .kyc-data/ unless KYC_DATA_DIR says otherwise; a "
                                     "stack on the doubles keeps its rows in memory); is KYC_DATA_DIR right?",
                                     "NoData")
                self._stores = open_stores(settings)
        return self._stores

    def print_json(self, value: Any) -> None:
        self.stdout.write(jsonutil.dumps_str(value) + "\n")

    def note(self, message: str) -> None:
        self.stderr.write(f"note: {message}\n")

    def confirm(self, what: str, args: argparse.Namespace) -> None:
        """Destructive commands run only with ``--yes`` or after typing ``yes`` at a terminal.

        Without a terminal (scripts, CI, pipes) nobody can answer, so ``--yes`` is required there."""
        if getattr(args, "yes", False):
            return
        stdin = self.stdin
        if stdin is None or not stdin.isatty():
            raise UsageError(f"{what}: refusing without --yes (standard input is not a terminal)", "NotConfirmed")
        self.stderr.write(f"{what}. Type 'yes' to continue: ")
        self.stderr.flush()
        if stdin.readline().strip().lower() != "yes":
            raise UsageError(f"{what}: not confirmed", "NotConfirmed")


@dataclass(frozen=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Context], int]


def add_yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--yes",
        action="store_true",
        help="do it without asking; required when standard input is not a terminal (scripts, CI)",
    )


# --- times ------------------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*$")  # ASCII digits: int("٣") is 3
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str, option: str) -> float:
    """``90``, ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` → seconds."""
    match = _DURATION_RE.match(value.lower())
    if not match:
        raise UsageError(f"{option} must be a duration like 90s, 30m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_since(value: str, option: str, now: float) -> float:
    """An ISO date/time (``2025-03-05``, ``2025-03-05T06:00:00Z``; UTC when no offset) or a duration ago (with its
    unit: a bare number could as well be a date written without dashes, ``20250305``)."""
    if value.strip().isdigit():
        raise UsageError(f"{option} needs a unit (like 24h) or an ISO date with dashes (2025-03-05)")
    if _DURATION_RE.match(value.lower()):
        return now - parse_duration(value, option)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} must be an ISO date (2025-03-05, 2025-03-05T06:00:00Z) or like 24h") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def check_user(user_id: str) -> str:
    """``--user``, or a ``UsageError`` for an id that is empty or not text (argv bytes that are not UTF-8)."""
    if not user_id.strip():
        raise UsageError("--user must not be empty")
    try:
        user_id.encode()
    except UnicodeEncodeError:
        raise UsageError("--user must be text (its bytes are not UTF-8)") from None
    return user_id


def user_id_hash(user_id: str, pepper: str) -> str:
    """``--user`` (:func:`check_user`) as the functions store and send it: its peppered hash."""
    from shared.auth import hash_user_id  # noqa: PLC0415

    return hash_user_id(check_user(user_id), pepper)


def merchant_biz_id_arg(value: str) -> str:
    if not is_merchant_biz_id(value):
        raise argparse.ArgumentTypeError(f"merchantBizId must be {MERCHANT_BIZ_ID_RULE}")
    return value


def record_view(record: TransactionRecord) -> dict[str, Any]:
    """What an operator sees of a row: everything but the callback token hash; identity only masked."""
    return {
        "merchantBizId": record.merchant_biz_id,
        "transactionId": record.transaction_id,
        "status": record.status,
        "passed": record.passed,
        "subCode": record.sub_code,
        "productCode": record.product_code,
        "docType": record.doc_type or None,  # None: the product verifies no document
        "sceneCode": record.scene_code,
        "merchantUserId": record.merchant_user_id,  # already the peppered HMAC, never the merchant's id
        "createdAt": rfc3339(record.created_at),
        "updatedAt": rfc3339(record.updated_at),
        "finalizedAt": rfc3339(record.finalized_at),
        "checkCount": record.check_count,
        "nextCheckAt": rfc3339(record.next_check_at),
        "error": record.error,
        "resultKey": record.result_key,
        "notificationEnqueued": record.notification_enqueued,
        "notifiedAt": rfc3339(record.notified_at),
        "vendorCopyDeleted": record.vendor_copy_deleted,
        "identity": record.identity_masked,
        "face": record.face,
    }
