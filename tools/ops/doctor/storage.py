"""Checks of where the functions keep their state: the data directory (local backend), or the Tablestore table, the
OSS bucket and the three MNS queues (aliyun backend), each through the project's own adapter and read-only:

* tables: ListTable and DescribeTable — the tables, their keys, predefined columns, TTL, encryption at rest and
  secondary indexes against their one definition (``shared.storage.tablestore_schema``, its ``ensure_tables`` in
  check-only mode: whatever it calls drift is a problem);
* bucket: GetBucketEncryption — the bucket exists and encrypts by default with KMS. Chosen over a probe write
  without KMS (which would prove a deny policy, not the default) because it is read-only and answers both
  questions in one call; it needs ``oss:GetBucketEncryption`` ("GetBucketEncryption": "requires the
  oss:GetBucketEncryption permission"), which the doctor's identity has and the functions' role does not need.
  Then GetBucketVersioning (``oss:GetBucketVersioning``; for a ``Suspended`` bucket also one ListObjectVersions
  page): a bucket that keeps old versions needs ``KYC_BUCKET_VERSIONING=true``, or erasure and retention leave every
  old version behind;
* queues: GetQueueAttributes (``GET /queues/<name>``) for recheck, notify and deadletter; on the dead-letter queue
  also BatchPeekMessage (``mns:PeekMessage``, as ``kyc dlq list``): letters waiting are a problem, told with when
  MNS deletes the oldest of them (``check_queue``).

Permissions: these calls run with the doctor's credentials. A refusal (403) is reported as what to grant the identity
running the doctor, not as a fault of the deployment.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from shared.config import ConfigError
from shared.signing import Credentials
from shared.storage import StorageError, StorageSettings
from shared.storage.mns import MAX_BATCH, MnsQueue
from shared.storage.queueing import ReceivedMessage
from shared.storage.tablestore_store import INSTANCE_ACL_DENIED, TablestoreTransactionStore
from shared.timestamps import rfc3339
from shared.urls import display_url

from .report import Finding, Options, connection_refused, ok, problem, refuses_connections

# Error codes meaning "these keys are wrong", with the pages the doubles cite for them (tools/doubles/*/errors.py):
# Tablestore's OTSAuthFailed; OSS's InvalidAccessKeyId and SignatureDoesNotMatch ("Add signatures to headers");
# MNS's InvalidAccessKeyId and SignatureDoesNotMatch ("Simple Message Queue (formerly MNS): Error codes").
# InvalidSecurityToken for a bad STS token is unverified for these three services (it is the gateways' usual prefix).
_CREDENTIAL_CODES = frozenset({"OTSAuthFailed", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken"})
_CREDENTIAL_FIX = ("check ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and "
                   "ALIBABA_CLOUD_SECURITY_TOKEN with an STS key); vendor.credentials names the exact cause")


def storage_settings(env: Mapping[str, str]) -> StorageSettings | ConfigError:
    try:
        return StorageSettings.from_env(env)
    except ConfigError as exc:
        return exc


def _credentials(settings: StorageSettings) -> Credentials:
    assert settings.credentials is not None  # the aliyun backend's settings always carry them
    return settings.credentials


def _refused(name: str, what: str, exc: StorageError, operation: str, where: str, *, endpoint: str | None,
             options: Options) -> Finding:
    """The common answers of any of the three services, by code/status; ``endpoint``: the URL called, when not the
    service's public one (a refused transport error is told apart by trying it again: the adapters keep no cause)."""
    code = exc.code or "unknown"
    if code == INSTANCE_ACL_DENIED:
        return problem(name, f"{what}: the instance's network ACL refused a request from the Internet ({code})",
                       "allow Internet access in the instance's network ACL (Tablestore console → the instance → "
                       "Network Management): every function reaches Tablestore over the Internet, as the doctor does "
                       "(docs/deploy.md, section 5, storage.table)")
    if code in _CREDENTIAL_CODES or code.startswith("InvalidSecurityToken"):
        return problem(name, f"{what}: the service refused the credentials ({code})", _CREDENTIAL_FIX)
    if exc.status == 403:
        return problem(name, f"{what}: {operation} was refused ({code})",
                       f"grant {operation} to the identity running the doctor (the functions do not need it)")
    if code == "TransportError":
        fix = "check the endpoint variable and this network"
        if endpoint and refuses_connections(endpoint, options.timeout):
            return connection_refused(name, f"{what} at {display_url(endpoint)}", urlsplit(endpoint).hostname or "",
                                      options, fix)
        return problem(name, f"{what}: no answer from {where}", fix)
    return problem(name, f"{what}: {operation} failed ({code})", "run the doctor again; if it repeats, report the code")


# --- local -------------------------------------------------------------------------------------------------


def check_data_dir(settings: StorageSettings) -> Finding:
    """``KYC_DATA_DIR`` is a directory this process can create files in (a temporary file, removed at once), or
    does not exist yet under a parent where it can be created."""
    name = "storage.data-dir"
    directory = Path(settings.data_dir).resolve()
    if directory.exists() and not directory.is_dir():
        return problem(name, f"{directory} is not a directory", "point KYC_DATA_DIR at a directory")
    probe_in = directory
    if not directory.exists():
        probe_in = next((p for p in directory.parents if p.exists()), Path("/"))
    try:
        with tempfile.NamedTemporaryFile(dir=probe_in, prefix=".kyc-doctor-", delete=True):
            pass
    except OSError as exc:
        return problem(name, f"{probe_in} is not writable ({type(exc).__name__})",
                       "make it writable for this user, or set KYC_DATA_DIR to a directory that is")
    if probe_in != directory:
        return ok(name, f"{directory} does not exist yet; the first start creates it (its parent is writable)")
    return ok(name, f"{directory} is writable")


# --- aliyun ------------------------------------------------------------------------------------------------


def check_table(settings: StorageSettings, options: Options) -> Finding:
    """The tables and indexes ``shared/storage/tablestore_schema.py`` defines, as they exist (``ensure_tables`` in
    check-only mode through the store: ListTable and DescribeTable, nothing created)."""
    name = "storage.table"
    table, instance = settings.tablestore_table, settings.tablestore_instance or ""
    store = TablestoreTransactionStore(
        table=table, endpoint=settings.tablestore_endpoint, instance=instance,
        credentials=_credentials(settings), timeout=options.timeout,
    )
    what = f"table {table} in instance {instance}"
    try:
        report = store.check_schema()
    except StorageError as exc:
        return _refused(name, what, exc, "ots:ListTable and ots:DescribeTable",
                        display_url(settings.tablestore_endpoint or ""), endpoint=settings.tablestore_endpoint,
                        options=options)
    if report.drift:
        return problem(name, f"{what}: " + "; ".join(report.drift),
                       "./scripts/kyc setup-tables creates what is missing as shared/storage/tablestore_schema.py "
                       "defines it (each item above says what it cannot repair; docs/deploy.md, \"Tablestore tables "
                       "and indexes\"); check KYC_TABLESTORE_INSTANCE and KYC_TABLESTORE_TABLE")
    notes = f" (note: {'; '.join(report.notes)})" if report.notes else ""
    return ok(name, f"{what}: {', '.join(report.verified)} as shared/storage/tablestore_schema.py defines them{notes}")


def check_bucket(settings: StorageSettings, options: Options) -> Finding:
    from shared.storage.oss import OssObjectStore  # noqa: PLC0415

    name = "storage.bucket"
    bucket = settings.oss_bucket or ""
    store = OssObjectStore(
        bucket=bucket, region=settings.oss_region or "", credentials=_credentials(settings),
        endpoint=settings.oss_endpoint, prefix=settings.oss_prefix,
        connect_timeout=options.timeout, read_timeout=options.timeout, retry_max_attempts=1,
    )
    what = f"bucket {bucket}"
    kms_fix = ("turn on SSE-KMS as the bucket's default encryption (template.yml's ServerSideEncryptionConfiguration; "
               "OSS console → bucket → Server-side Encryption → KMS)")
    try:
        rule = store.bucket_encryption()
    except StorageError as exc:
        if exc.code == "NoSuchBucket":
            return problem(name, f"{what} does not exist in {settings.oss_region}",
                           "s deploy creates it (kyc-infra); check KYC_OSS_BUCKET and KYC_OSS_REGION")
        where = display_url(settings.oss_endpoint) if settings.oss_endpoint else f"OSS in {settings.oss_region}"
        return _refused(name, what, exc, "oss:GetBucketEncryption", where, endpoint=settings.oss_endpoint,
                        options=options)
    if rule is None:
        return problem(name, f"{what} has no default encryption", kms_fix)
    algorithm, key_id = rule
    if algorithm != "KMS":
        return problem(name, f"{what} encrypts by default with {algorithm}, not KMS", kms_fix)
    key = "your KMS key" if key_id else "the OSS-managed KMS key"
    versioning: str | None = None
    try:
        versioning = store.bucket_versioning()
        # Suspended from its creation (template.yml's unversioned stack) keeps nothing; suspended after being
        # enabled keeps the versions written meanwhile.
        if versioning == "Suspended" and not settings.oss_versioned and not store.keeps_old_versions():
            versioning = None
    except StorageError as exc:
        where = display_url(settings.oss_endpoint) if settings.oss_endpoint else f"OSS in {settings.oss_region}"
        operation = "oss:ListObjectVersions" if versioning else "oss:GetBucketVersioning"  # which call was refused
        return _refused(name, what, exc, operation, where, endpoint=settings.oss_endpoint, options=options)
    if versioning and not settings.oss_versioned:
        return problem(name, f"{what} keeps old versions (versioning {versioning}) but KYC_BUCKET_VERSIONING is not "
                       "true here: erasure and retention would leave every old version of the objects they delete",
                       "set KYC_BUCKET_VERSIONING=true (the stack output BucketVersioning) for the functions and here")
    if settings.oss_versioned and not versioning:
        return problem(name, f"{what} has never been versioned but KYC_BUCKET_VERSIONING is true",
                       "set KYC_BUCKET_VERSIONING to the stack output BucketVersioning (false)")
    kept = f"; versioning {versioning}, every version deleted with its objects" if versioning else ""
    return ok(name, f"{what} exists and encrypts by default with SSE-KMS ({key}){kept}")


QUEUE_VARIABLES = {"recheck": "KYC_RECHECK_QUEUE", "notify": "KYC_NOTIFY_QUEUE", "deadletter": "KYC_DEADLETTER_QUEUE"}


def check_queue(settings: StorageSettings, options: Options, logical: str) -> Finding:
    """The queue exists (GetQueueAttributes); for the dead-letter queue, also whether letters wait (BatchPeekMessage,
    which changes nothing) and when MNS deletes the oldest of those seen. Not from the attributes' message counts:
    MNS is withdrawing them ("will soon unpublish the return values for the following fields. These fields will then
    return a default value of 0: ActiveMessages, InactiveMessages, DelayMessages", "Simple Message Queue (formerly
    MNS): GetQueueAttributes", Jan 2026)."""
    name = f"storage.queue.{logical}"
    queue_name = settings.queue_names[logical]
    endpoint = settings.mns_endpoint or ""
    what = f"queue {queue_name}"
    queue = MnsQueue(endpoint, queue_name, _credentials(settings), timeout=options.timeout)
    try:
        attributes = queue.attributes()
    except StorageError as exc:
        if exc.code == "QueueNotExist":
            return problem(name, f"{what} does not exist at {display_url(endpoint)}",
                           f"s deploy creates it (kyc-infra); check {QUEUE_VARIABLES[logical]} and KYC_MNS_ENDPOINT "
                           "(account id and region)")
        return _refused(name, what, exc, "mns:GetQueueAttributes", display_url(endpoint), endpoint=endpoint,
                        options=options)
    if logical != "deadletter":
        return ok(name, f"{what} exists")
    try:
        letters = queue.peek(MAX_BATCH)
    except StorageError as exc:
        return _refused(name, what, exc, "mns:PeekMessage", display_url(endpoint), endpoint=endpoint, options=options)
    if not letters:  # a letter a `kyc dlq redrive` holds (received, not deleted) is hidden from a peek
        return ok(name, f"{what} exists; no dead letter is visible (one a running or interrupted `kyc dlq redrive` "
                        "holds stays hidden until the hold ends)")
    return problem(name, _dead_letters_waiting(what, letters, attributes.get("MessageRetentionPeriod", "")),
                   "./scripts/kyc dlq list shows them (docs/operations.md, \"Dead letters\"): fix the cause, then "
                   "redrive them, or purge those that cannot go anywhere")


def _dead_letters_waiting(what: str, letters: list[ReceivedMessage], retention: str) -> str:
    """``what`` holds these letters (a peek shows at most MAX_BATCH), the oldest of them arrived when, and MNS deletes
    it when: a letter lives ``MessageRetentionPeriod`` seconds from its arrival, "regardless of whether it has been
    taken" (ALIYUN::MNS::Queue, MessageRetentionPeriod)."""
    count = f"{MAX_BATCH} or more" if len(letters) >= MAX_BATCH else str(len(letters))
    detail = f"{what} holds {count} dead letters"
    arrivals = [letter.first_enqueued_at for letter in letters if letter.first_enqueued_at > 0]  # 0: no EnqueueTime
    if not arrivals:
        return detail
    oldest = min(arrivals)
    detail += f"; the oldest of those seen arrived {rfc3339(oldest)}"
    if retention.isdigit():
        detail += f", and MNS deletes it at {rfc3339(oldest + int(retention))} (MessageRetentionPeriod {retention} s)"
    return detail
