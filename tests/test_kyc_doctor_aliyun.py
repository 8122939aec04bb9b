"""``kyc doctor``'s aliyun checks (table, bucket, queues) against the wire-level doubles of Tablestore, OSS and MNS,
each verifying every signature; the project's own adapters do the calls, as in production."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from shared import jsonutil
from shared.signing import Credentials
from shared.storage.mns import MAX_BATCH, MnsQueue
from shared.storage.tablestore_schema import ensure_tables
from shared.timestamps import rfc3339
from tools.doubles.mns import MnsDouble, QueueAttributes
from tools.doubles.oss import OssDouble
from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import tablestore as ots
from tools.ops import kyc

AK, SK = "LTAI-doctor-id", "doctor-secret-value-0a9b8c"
REGION = "cn-hongkong"
BUCKET = "kyc-results-doctor"
TABLE = "kyc_transactions"
QUEUES = ("kyc-recheck", "kyc-notify", "kyc-deadletter")


@dataclass
class Cloud:
    ots: TablestoreDouble
    oss: OssDouble
    mns: MnsDouble

    def env(self, **changes: str) -> dict[str, str]:
        env = {
            "KYC_BACKEND": "aliyun",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": AK,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SK,
            "KYC_TABLESTORE_ENDPOINT": self.ots.endpoint,
            "KYC_TABLESTORE_INSTANCE": self.ots.instance,
            "KYC_TABLESTORE_TABLE": TABLE,
            "KYC_OSS_REGION": REGION,
            "KYC_OSS_BUCKET": BUCKET,
            "KYC_OSS_ENDPOINT": self.oss.endpoint,
            "KYC_MNS_ENDPOINT": self.mns.endpoint,
        }
        env.update(changes)
        return env

    def create_table(self) -> None:
        """The tables and indexes as the deployment has them (their one definition)."""
        ensure_tables(self.ots.client(), TABLE)

    def create_table_keyed(self, key: str) -> None:
        self.ots.client().create_table(
            ots.TableMeta(TABLE, [(key, "STRING")]), ots.TableOptions(), ots.ReservedThroughput(ots.CapacityUnit(0, 0))
        )


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with (
        TablestoreDouble(access_key_id=AK, access_key_secret=SK) as tablestore,
        OssDouble(access_key_id=AK, access_key_secret=SK, bucket=BUCKET, region=REGION) as oss,
        MnsDouble(access_key_id=AK, access_key_secret=SK, queues=QUEUES, region=REGION) as mns,
    ):
        yield Cloud(tablestore, oss, mns)


def storage_findings(env: dict[str, str]) -> dict[str, dict[str, str]]:
    out = io.StringIO()
    kyc.main(["doctor", "--json", "--timeout", "5"], env=env, stdout=out, stderr=io.StringIO())
    items = [jsonutil.loads(line) for line in out.getvalue().splitlines()]
    return {item["check"]: item for item in items if item["check"].startswith("storage")}


def test_an_existing_table_bucket_and_queues_pass(cloud: Cloud) -> None:
    cloud.create_table()
    found = storage_findings(cloud.env())
    assert set(found) == {"storage.table", "storage.bucket", "storage.queue.recheck", "storage.queue.notify",
                          "storage.queue.deadletter"}
    assert all(f["status"] == "ok" for f in found.values()), found
    assert "SSE-KMS (the OSS-managed KMS key)" in found["storage.bucket"]["detail"]
    assert "kyc_transactions_due" in found["storage.table"]["detail"]  # the indexes were checked too


def test_a_missing_table_is_a_problem(cloud: Cloud) -> None:
    finding = storage_findings(cloud.env())["storage.table"]
    assert finding["status"] == "problem" and "table kyc_transactions is missing" in finding["detail"]
    assert "KYC_TABLESTORE_TABLE" in finding["fix"]


def test_a_table_keyed_otherwise_than_the_store_writes_is_a_problem(cloud: Cloud) -> None:
    cloud.create_table_keyed("merchantBizId")
    finding = storage_findings(cloud.env())["storage.table"]
    assert finding["status"] == "problem"
    assert "primary key is ['merchantBizId'], expected ['merchant_biz_id']" in finding["detail"]


def test_a_table_without_its_indexes_is_a_problem_and_the_doctor_creates_nothing(cloud: Cloud) -> None:
    cloud.create_table_keyed("merchant_biz_id")
    before = sorted(cloud.ots.client().list_table())
    finding = storage_findings(cloud.env())["storage.table"]
    assert finding["status"] == "problem" and "index kyc_transactions_due is missing" in finding["detail"]
    assert sorted(cloud.ots.client().list_table()) == before


def test_a_bucket_without_default_encryption_is_a_problem(cloud: Cloud) -> None:
    cloud.create_table()
    cloud.oss.set_bucket_encryption(BUCKET, None)
    finding = storage_findings(cloud.env())["storage.bucket"]
    assert finding["status"] == "problem" and "no default encryption" in finding["detail"]
    assert "SSE-KMS" in finding["fix"]


def test_a_bucket_encrypted_without_kms_is_a_problem(cloud: Cloud) -> None:
    cloud.oss.set_bucket_encryption(BUCKET, "AES256")
    finding = storage_findings(cloud.env())["storage.bucket"]
    assert finding["status"] == "problem" and "AES256, not KMS" in finding["detail"]


def test_a_bucket_with_a_customer_kms_key_passes(cloud: Cloud) -> None:
    cloud.oss.set_bucket_encryption(BUCKET, "KMS", "key-id-1234")
    finding = storage_findings(cloud.env())["storage.bucket"]
    assert finding["status"] == "ok" and "your KMS key" in finding["detail"]


def test_a_missing_bucket_is_a_problem(cloud: Cloud) -> None:
    finding = storage_findings(cloud.env(KYC_OSS_BUCKET="kyc-no-such-bucket"))["storage.bucket"]
    assert finding["status"] == "problem" and "does not exist" in finding["detail"]


def test_a_missing_queue_is_a_problem_naming_its_variable(cloud: Cloud) -> None:
    found = storage_findings(cloud.env(KYC_NOTIFY_QUEUE="kyc-notify-typo"))
    assert found["storage.queue.recheck"]["status"] == "ok"
    finding = found["storage.queue.notify"]
    assert finding["status"] == "problem" and "kyc-notify-typo does not exist" in finding["detail"]
    assert "KYC_NOTIFY_QUEUE" in finding["fix"]


def test_a_dead_letter_queue_with_nothing_visible_passes_without_claiming_it_is_empty(cloud: Cloud) -> None:
    """A letter received and not deleted (``dlq redrive`` cut off, or its release failing: held up to 12 h) is hidden
    from a peek, yet on the queue, and MNS still deletes it 7 days after it arrived (review aw)."""
    queue = MnsQueue(cloud.mns.endpoint, "kyc-deadletter", Credentials(AK, SK))
    queue.send(b'{"kind": "notify", "reason": "webhook_undeliverable"}')
    assert len(queue.receive(max_messages=1)) == 1  # held, as a redrive walk holds the letters it does not take

    finding = storage_findings(cloud.env())["storage.queue.deadletter"]

    assert finding["status"] == "ok"
    assert finding["detail"].startswith("queue kyc-deadletter exists; no dead letter is visible (one a running or "
                                        "interrupted `kyc dlq redrive` holds stays hidden")


def test_dead_letters_waiting_are_a_problem_that_says_when_mns_deletes_the_oldest(cloud: Cloud) -> None:
    """MNS deletes a letter MessageRetentionPeriod after it arrived, read or not (7 days at most, template.yml):
    a webhook left there unseen is never sent. MNS is withdrawing ActiveMessages (the double answers 0 as MNS will),
    so the doctor peeks."""
    cloud.mns.create_queue("kyc-week-deadletter", QueueAttributes(message_retention_period=604_800))
    queue = MnsQueue(cloud.mns.endpoint, "kyc-week-deadletter", Credentials(AK, SK))
    queue.send(b'{"kind": "notify", "reason": "webhook_undeliverable"}')
    cloud.mns.advance(2 * 86_400)
    queue.send(b'{"kind": "notify", "reason": "not_final"}')
    oldest = min(letter.first_enqueued_at for letter in queue.peek())

    finding = storage_findings(cloud.env(KYC_DEADLETTER_QUEUE="kyc-week-deadletter"))["storage.queue.deadletter"]

    assert finding["status"] == "problem"
    assert finding["detail"] == (
        f"queue kyc-week-deadletter holds 2 dead letters; the oldest of those seen arrived {rfc3339(oldest)}, and MNS "
        f"deletes it at {rfc3339(oldest + 604_800)} (MessageRetentionPeriod 604800 s)")
    assert "./scripts/kyc dlq list" in finding["fix"] and "redrive" in finding["fix"]


def test_a_full_peek_of_dead_letters_is_counted_as_that_many_or_more(cloud: Cloud) -> None:
    queue = MnsQueue(cloud.mns.endpoint, "kyc-deadletter", Credentials(AK, SK))
    for n in range(MAX_BATCH + 1):
        queue.send(b'{"kind": "notify", "n": %d}' % n)
    finding = storage_findings(cloud.env())["storage.queue.deadletter"]
    assert finding["status"] == "problem" and f"holds {MAX_BATCH} or more dead letters" in finding["detail"]


def test_letters_without_an_arrival_time_are_counted_without_made_up_dates() -> None:
    from shared.storage.queueing import ReceivedMessage
    from tools.ops.doctor.storage import _dead_letters_waiting

    letter = ReceivedMessage(message_id="m1", body=b"{}", receipt="", receive_count=0, first_enqueued_at=0.0)
    assert _dead_letters_waiting("queue q", [letter], "604800") == "queue q holds 1 dead letters"


def test_the_other_queues_pass_whatever_they_hold(cloud: Cloud) -> None:
    MnsQueue(cloud.mns.endpoint, "kyc-notify", Credentials(AK, SK)).send(b'{"merchantBizId": "x"}')
    finding = storage_findings(cloud.env())["storage.queue.notify"]
    assert (finding["status"], finding["detail"]) == ("ok", "queue kyc-notify exists")


def test_a_wrong_secret_is_named_by_every_service(cloud: Cloud) -> None:
    cloud.create_table()
    found = storage_findings(cloud.env(ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-secret-value-77"))
    for check in ("storage.table", "storage.bucket", "storage.queue.recheck"):
        assert found[check]["status"] == "problem", check
        assert "refused the credentials" in found[check]["detail"], check
        assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in found[check]["fix"]


def test_an_instance_closed_to_the_internet_is_named_with_its_network_acl_not_the_keys(cloud: Cloud) -> None:
    """Tablestore answers a request its instance's network ACL refuses with OTSAuthFailed, the code of wrong keys
    ("Request denied by instance ACL policies"; new instances: "Internet access is disabled" by default)."""
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, internet_access=False) as closed:
        finding = storage_findings(cloud.env(KYC_TABLESTORE_ENDPOINT=closed.endpoint,
                                             KYC_TABLESTORE_INSTANCE=closed.instance))["storage.table"]
    assert finding["status"] == "problem"
    assert "network ACL refused a request from the Internet" in finding["detail"]
    assert "allow Internet access in the instance's network ACL" in finding["fix"]
    assert "ALIBABA_CLOUD_ACCESS_KEY" not in finding["fix"]


def test_a_service_that_does_not_answer_is_a_problem(cloud: Cloud, free_port: int) -> None:
    found = storage_findings(cloud.env(KYC_MNS_ENDPOINT=f"http://127.0.0.1:{free_port}"))
    assert found["storage.queue.recheck"]["status"] == "problem"
    assert found["storage.queue.recheck"]["detail"].endswith(": connection refused")


def test_queue_attributes_read_as_the_official_sdk_reads_them(cloud: Cloud) -> None:
    from mns.account import Account

    ours = MnsQueue(cloud.mns.endpoint, "kyc-recheck", Credentials(AK, SK)).attributes()
    theirs = Account(cloud.mns.endpoint, AK, SK).get_queue("kyc-recheck").get_attributes()
    assert ours["QueueName"] == theirs.queue_name == "kyc-recheck"
    assert int(ours["MaximumMessageSize"]) == theirs.maximum_message_size
    assert int(ours["VisibilityTimeout"]) == theirs.visibility_timeout


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_versioned_bucket_without_kyc_bucket_versioning_is_a_problem(versioned_cloud: Cloud) -> None:
    finding = storage_findings(versioned_cloud.env())["storage.bucket"]
    assert finding["status"] == "problem" and "keeps old versions (versioning Enabled)" in finding["detail"]
    assert "KYC_BUCKET_VERSIONING=true" in finding["fix"]


def test_a_versioned_bucket_with_kyc_bucket_versioning_passes(versioned_cloud: Cloud) -> None:
    finding = storage_findings(versioned_cloud.env(KYC_BUCKET_VERSIONING="true"))["storage.bucket"]
    assert finding["status"] == "ok" and "versioning Enabled" in finding["detail"]


def test_kyc_bucket_versioning_on_a_bucket_never_versioned_is_a_problem(cloud: Cloud) -> None:
    finding = storage_findings(cloud.env(KYC_BUCKET_VERSIONING="true"))["storage.bucket"]
    assert finding["status"] == "problem" and "never been versioned" in finding["detail"]


@pytest.fixture
def versioned_cloud() -> Iterator[Cloud]:
    with (
        TablestoreDouble(access_key_id=AK, access_key_secret=SK) as tablestore,
        OssDouble(access_key_id=AK, access_key_secret=SK, bucket=BUCKET, region=REGION, versioning=True) as oss,
        MnsDouble(access_key_id=AK, access_key_secret=SK, queues=QUEUES, region=REGION) as mns,
    ):
        yield Cloud(tablestore, oss, mns)


def test_a_bucket_suspended_from_its_creation_passes_without_kyc_bucket_versioning(cloud: Cloud) -> None:
    """template.yml's unversioned stack sets the bucket's versioning to Suspended (found by review: the doctor called
    that a problem): such a bucket never kept an old version (its objects' version ID is null)."""
    cloud.oss.versioning_status[BUCKET] = "Suspended"
    cloud.oss.seed("results/mbid/result.json", b"{}")
    finding = storage_findings(cloud.env(KYC_BUCKET_VERSIONING="false"))["storage.bucket"]
    assert finding["status"] == "ok", finding


def test_a_bucket_suspended_after_keeping_versions_still_needs_kyc_bucket_versioning(versioned_cloud: Cloud) -> None:
    versioned_cloud.oss.seed("results/mbid/result.json", b"{}")
    versioned_cloud.oss.versioning_status[BUCKET] = "Suspended"
    finding = storage_findings(versioned_cloud.env(KYC_BUCKET_VERSIONING="false"))["storage.bucket"]
    assert finding["status"] == "problem" and "versioning Suspended" in finding["detail"]


# --- found by mutating tools/ops/doctor/storage.py ----------------------------------------------------------------


def test_one_dead_letter_waiting_is_a_problem(cloud: Cloud) -> None:
    MnsQueue(cloud.mns.endpoint, "kyc-deadletter", Credentials(AK, SK)).send(b'{"kind": "notify"}')
    finding = storage_findings(cloud.env())["storage.queue.deadletter"]
    assert finding["status"] == "problem" and "holds 1 dead letters" in finding["detail"]


def test_a_bucket_suspended_from_its_creation_passes_with_kyc_bucket_versioning_too(cloud: Cloud) -> None:
    """Deleting every version there costs a listing, and deletes nothing more: not a problem."""
    cloud.oss.versioning_status[BUCKET] = "Suspended"
    cloud.oss.seed("results/mbid/result.json", b"{}")
    finding = storage_findings(cloud.env(KYC_BUCKET_VERSIONING="true"))["storage.bucket"]
    assert finding["status"] == "ok" and "versioning Suspended" in finding["detail"], finding


def test_a_refused_listing_of_versions_names_that_permission(cloud: Cloud) -> None:
    cloud.oss.versioning_status[BUCKET] = "Suspended"
    handle = cloud.oss.handle

    def refuse_listing(request: object) -> object:
        if cloud.oss.operation_of(request) == "ListObjectVersions":
            return cloud.oss.render_error("AccessDenied", request)
        return handle(request)

    cloud.oss.handle = refuse_listing
    finding = storage_findings(cloud.env(KYC_BUCKET_VERSIONING="false"))["storage.bucket"]
    assert finding["status"] == "problem" and "oss:ListObjectVersions was refused (AccessDenied)" in finding["detail"]
    assert "grant oss:ListObjectVersions" in finding["fix"]
