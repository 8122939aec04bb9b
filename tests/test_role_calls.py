"""The per-function execution roles against real runs: every call each function makes on the aliyun backend, taken
from the wire-level doubles' request logs, against the RAM statements of that function's role in template.yml — no
call a role does not grant (a 403 in production), no table call a role grants that its functions never make.

The harness drives each function's own app in-process (``InitializerApp``/``ResultFetcherApp``/``NotifierApp``/
``SweeperApp``, built from the environment s.yaml gives it over the doubles' stack) through its paths, and attributes
to the function exactly the requests made while it ran (setup made with other functions' apps is not counted).
Each request becomes a RAM (action, resource[, oss:Prefix]) as RAM authorizes it:

* Tablestore: ``ots:<Api>`` on ``acs:ots:<region>:<account>:instance/<instance>/table/<table in the request>``;
* OSS: PutObject → oss:PutObject, GetObject/HeadObject/GetObjectMeta → oss:GetObject, DeleteObject → oss:DeleteObject
  (with a versionId: oss:DeleteObjectVersion), ListObjectsV2 → oss:ListObjects, ListObjectVersions →
  oss:ListObjectVersions; object operations on ``acs:oss:<region>:<account>:<bucket>/<key>``, bucket operations on
  ``acs:oss:<region>:<account>:<bucket>`` with the request's ``prefix`` as ``oss:Prefix``; with a customer key, a put
  also needs kms:GenerateDataKey and a get kms:Decrypt on that key;
* MNS: SendMessage → mns:SendMessage on ``acs:mns:<region>:<account>:/queues/<queue>/messages``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml

from shared.auth import issue_token
from shared.handlers.initializer import InitializerApp
from shared.handlers.notifier import NotifierApp
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.handlers.sweeper import SweeperApp
from shared.ids import new_merchant_biz_id, result_prefix
from shared.messages import RecheckMessage
from shared.storage import ReceivedMessage, StorageSettings, open_stores
from tools.credentials import AccessKey
from tools.deployment import ros_value
from tools.devstack.aliyun import AliyunDoubles
from tools.devstack.gateway import make_http_event
from tools.devstack.worker import cloud_events, timer_event
from tools.package.exercise import ACCESS_KEY_ID, ACCESS_KEY_SECRET, JWT_SECRET, RETURN_URL, Services, quiet
from tools.sandbox.state import Outcome

ROOT = Path(__file__).resolve().parent.parent
ROLE_OF = {"initializer": "InitializerRole", "result_fetcher": "FetcherRole", "sweeper": "SweeperRole",
           "notifier": "NotifierRole"}  # fmt: skip
CONFIGS = {
    "default": {},  # the template's defaults: unversioned bucket, the OSS-managed key
    "versioned-cmk": {"KYC_BUCKET_VERSIONING": "true", "KYC_KMS_KEY_ID": "key-role-calls"},
}
VALID = {"docType": "01000000", "metaInfo": {"bioMetaInfo": "x"}, "returnUrl": RETURN_URL}


# ------------------------------------------------------------------------------------------ attribution


class Attribution:
    """The doubles' requests, attributed to the function running when each was received (``acting``)."""

    def __init__(self, stack: AliyunDoubles) -> None:
        self.stack = stack
        self.owner: str | None = None
        self.marks = {d.service: len(d.received()) for d in stack.doubles}
        self.calls: dict[str, list[tuple[str, Any]]] = defaultdict(list)  # function → [(service, Received)]

    def _flush(self) -> None:
        for double in self.stack.doubles:
            received = double.received()
            assert len(received) < 1900, "the doubles' request log is near its limit: the run is too long"
            if self.owner is not None:
                self.calls[self.owner].extend((double.service, r) for r in received[self.marks[double.service] :])
            self.marks[double.service] = len(received)

    @contextlib.contextmanager
    def acting(self, owner: str | None) -> Iterator[None]:
        previous = self.owner
        self._flush()
        self.owner = owner
        try:
            yield
        finally:
            self._flush()
            self.owner = previous


# ------------------------------------------------------------------------------------------ requests → RAM


def _tablestore_tables(operation: str, body: bytes) -> list[str]:
    from tools.doubles.tablestore._sdk import pb2

    if operation in {"BatchGetRow", "BatchWriteRow"}:
        message = getattr(pb2, f"{operation}Request")()
        message.ParseFromString(body)
        return [t.table_name for t in message.tables]
    message = getattr(pb2, f"{operation}Request")()
    message.ParseFromString(body)
    return [message.table_name]


def ram_requests(stack: AliyunDoubles, calls: list[tuple[str, Any]]) -> set[tuple[str, str, str | None]]:
    """(action, resource, oss:Prefix or None) for every request."""
    layout = stack.layout
    region, account = layout.region, layout.account_id
    needed: set[tuple[str, str, str | None]] = set()
    for service, received in calls:
        operation, request = received.operation, received.request
        if service == "tablestore":
            for table in _tablestore_tables(operation, request.body):
                needed.add((f"ots:{operation}", f"acs:ots:{region}:{account}:instance/{layout.instance}/table/{table}",
                            None))  # fmt: skip
        elif service == "oss":
            bucket, key = stack.oss._address(request)
            query = dict(parse_qsl(request.query, keep_blank_values=True))
            if key is None:
                action = {"ListObjectsV2": "oss:ListObjects", "ListObjectVersions": "oss:ListObjectVersions"}[operation]
                needed.add((action, f"acs:oss:{region}:{account}:{bucket}", query.get("prefix", "")))
                continue
            resource = f"acs:oss:{region}:{account}:{bucket}/{key}"
            if operation == "DeleteObject":
                action = "oss:DeleteObjectVersion" if "versionId" in query else "oss:DeleteObject"
            else:
                action = {"PutObject": "oss:PutObject", "GetObject": "oss:GetObject", "HeadObject": "oss:GetObject",
                          "GetObjectMeta": "oss:GetObject"}[operation]  # fmt: skip
            needed.add((action, resource, None))
            if layout.kms_key_id and action in {"oss:PutObject", "oss:GetObject"}:
                kms = "kms:GenerateDataKey" if action == "oss:PutObject" else "kms:Decrypt"
                needed.add((kms, f"acs:kms:{region}:{account}:key/{layout.kms_key_id}", None))
        elif service == "mns":
            assert operation == "SendMessage", operation
            needed.add(("mns:SendMessage", f"acs:mns:{region}:{account}:{request.path}", None))
    return needed


def role_statements(stack: AliyunDoubles, role: str) -> list[tuple[list[str], list[str], list[str] | None]]:
    """(actions, resources, oss:Prefix patterns or None) of ``role``'s statements, resolved for the stack."""
    template = yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))
    layout = stack.layout
    attributes = dict(layout.attributes)
    use_customer_key = bool(layout.names.get("KmsKeyId"))
    found = []
    (policy,) = template["Resources"][role]["Properties"]["Policies"]
    for written in policy["PolicyDocument"]["Statement"]:
        statement = written
        if "Fn::If" in written:
            condition, when, otherwise = written["Fn::If"]
            assert condition == "UseCustomerKey"
            statement = when if use_customer_key else otherwise
            if statement == {"Ref": "ALIYUN::NoValue"}:
                continue
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = [r if r == "*" else ros_value(r, layout.names, attributes) for r in statement["Resource"]]
        assert all(resources), statement
        prefixes = None
        if "Condition" in statement:
            prefixes = [ros_value(p, layout.names, attributes) for p in
                        statement["Condition"]["StringLike"]["oss:Prefix"]]  # fmt: skip
        found.append((actions, resources, prefixes))
    return found


def allowed(statements: list[Any], action: str, resource: str, prefix: str | None) -> bool:
    for actions, resources, prefixes in statements:
        if action not in actions or not any(fnmatch.fnmatchcase(resource, r) for r in resources):
            continue
        if prefixes is not None and (prefix is None or not any(fnmatch.fnmatchcase(prefix, p) for p in prefixes)):
            continue
        return True
    return False


# ------------------------------------------------------------------------------------------ the runs


class World:
    def __init__(self, config: dict[str, str], workdir: Path) -> None:
        keys = AccessKey(ACCESS_KEY_ID, ACCESS_KEY_SECRET).environment()
        self.services = Services("local", workdir)  # the vendor sandbox and the webhook receiver
        with quiet():
            self.stack = AliyunDoubles.from_env({**keys, **config}).start()
        self.stack.oss.page_limit = 2
        self.services.backend, self.services.stack = "aliyun", self.stack
        self.env = self.services.env()
        self.attribution = Attribution(self.stack)

    def close(self) -> None:
        self.services.close()  # stops the stack too

    # -- setup, attributed to nobody

    def seed(self, outcome: dict[str, Any] | None, *, age_seconds: float = 0.0) -> tuple[str, str]:
        with self.attribution.acting(None), quiet():
            app = InitializerApp.from_env(self.env)
            app.verifications.clock = lambda: time.time() - age_seconds
            user = f"user-{uuid.uuid4().hex[:12]}"
            answer = app.handle(self.http("POST", "/verifications", user, VALID), None)
            assert answer["statusCode"] == 201, answer
            created = json.loads(answer["body"])
            transaction = self.services.sandbox.app.store.get(created["transactionId"])
            assert transaction is not None
            if outcome is not None:
                self.services.sandbox.app.complete(transaction, Outcome.from_json(outcome))
            return created["merchantBizId"], str(transaction.callback_token)

    def finalize_here(self, mbid: str, *, age_seconds: float = 0.0) -> None:
        with self.attribution.acting(None), quiet():
            fetcher = ResultFetcherApp.from_env(self.env).fetcher
            fetcher.clock = lambda: time.time() - age_seconds
            fetcher.fetch(mbid)

    @staticmethod
    def http(method: str, target: str, user: str | None = None, body: Any = None, key: str | None = None
             ) -> dict[str, Any]:
        headers = [("Content-Type", "application/json")]
        if user is not None:
            headers.append(("Authorization", f"Bearer {issue_token(user, JWT_SECRET)}"))
        if key is not None:
            headers.append(("Idempotency-Key", key))
        return make_http_event(method, target, headers, json.dumps(body).encode() if body is not None else b"")

    @staticmethod
    def queue(name: str, bodies: list[bytes]) -> list[Any]:
        messages = [ReceivedMessage(uuid.uuid4().hex.upper(), b, "receipt", 1, time.time()) for b in bodies]
        return cloud_events(name, messages)

    # -- each function's paths

    def run_initializer(self) -> None:
        with quiet():
            app = InitializerApp.from_env(self.env)
        with self.attribution.acting("initializer"), quiet():
            created = json.loads(app.handle(self.http("POST", "/verifications", "u1", VALID), None)["body"])
            app.handle(self.http("GET", f"/verifications/{created['merchantBizId']}", "u1"), None)
            app.handle(self.http("GET", "/verifications/0123456789abcdef0123456789abcdef", "u1"), None)
            app.handle(self.http("POST", "/verifications", "u1", VALID), None)
            limited = app.handle(self.http("POST", "/verifications", "u1", VALID), None)  # over the limit of 2
            assert limited["statusCode"] == 429, limited
            keyed = app.handle(self.http("POST", "/verifications", "u1", VALID, key="k-1"), None)  # claimed, given back
            assert keyed["statusCode"] == 429, keyed
            self.services.set_vendor_faults({"Initialize": {"sequence": ["Forbidden.RAMUserAccessDenied"]}})
            refused = app.handle(self.http("POST", "/verifications", "u3", VALID), None)  # the slot is given back
            assert refused["statusCode"] == 502, refused
            self.services.set_vendor_faults()

    def run_result_fetcher(self) -> None:
        passed, passed_token = self.seed({"outcome": "pass"})
        pending, pending_token = self.seed({"outcome": "pending", "pendingChecks": 10})
        raced, _ = self.seed({"outcome": "pass"})
        with quiet():
            app = ResultFetcherApp.from_env(self.env)
            other = open_stores(StorageSettings.from_env(self.env)).transactions
        with self.attribution.acting("result_fetcher"), quiet():
            answer = app.handle(self.http("GET", f"/callback?merchantBizId={passed}&callbackToken={passed_token}"),
                                None)  # fmt: skip
            assert json.loads(answer["body"])["outcome"] == "finalized", answer
            app.handle(self.http("GET", f"/callback?merchantBizId={pending}&callbackToken={pending_token}"), None)
            app.handle(self.queue("kyc-recheck", [RecheckMessage(pending, 1).to_body()]), None)
            # a re-check of a row that is gone (erased, expired): the prefix is deleted
            app.handle(self.queue("kyc-recheck", [RecheckMessage(new_merchant_biz_id(), 1).to_body()]), None)
            # the row goes while the fetch runs (an erasure): what it wrote is deleted (_discard_written)
            finalize = app.fetcher.store.finalize

            def erased_meanwhile(mbid: str, **kwargs: Any) -> bool:
                with self.attribution.acting(None):
                    other.delete(mbid)
                return finalize(mbid, **kwargs)

            app.fetcher.store.finalize = erased_meanwhile  # type: ignore[method-assign]
            assert app.fetcher.fetch(raced).kind == "unknown"

    def run_notifier(self) -> None:
        done, _ = self.seed({"outcome": "pass"})
        self.finalize_here(done)
        with quiet():
            app = NotifierApp.from_env(self.env)
        with self.attribution.acting("notifier"), quiet():
            first = json.dumps({"merchantBizId": done, "attempt": 0}).encode()
            app.handle(self.queue("kyc-notify", [first]), None)  # includePii: reads the result; fails: a retry
            last = json.dumps({"merchantBizId": done, "attempt": 2}).encode()
            app.handle(self.queue("kyc-notify", [last]), None)  # retries exhausted: a dead letter
            app.handle(self.queue("kyc-notify", [b"\x00garbage"]), None)

    def run_sweeper(self) -> None:
        silent, _ = self.seed({"outcome": "pass"})
        old, _ = self.seed({"outcome": "fail", "subCode": "205"}, age_seconds=3 * 86400)
        self.finalize_here(old, age_seconds=3 * 86400 - 60)
        gone, _ = self.seed(None, age_seconds=3600)
        with quiet():
            app = SweeperApp.from_env(self.env)
        with self.attribution.acting("sweeper"), quiet():
            report = app.handle(timer_event(), None)
            app.handle(timer_event(), None)
        assert not report["errors"], report
        with quiet():
            stores = open_stores(StorageSettings.from_env(self.env))
            assert stores.transactions.get(silent).status == "PASSED"
            assert stores.transactions.get(gone).status == "ABANDONED"
            assert stores.transactions.get(old) is None and not stores.objects.list(result_prefix(old))


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(CONFIGS[request.param], tmp_path_factory.mktemp(f"role-calls-{request.param}"))
    try:
        world.run_initializer()
        world.run_result_fetcher()
        world.run_notifier()
        world.run_sweeper()
        yield world
    finally:
        world.close()


def needed_by(world: World, function: str) -> set[tuple[str, str, str | None]]:
    return ram_requests(world.stack, world.attribution.calls[function])


# ------------------------------------------------------------------------------------------ the tests


def test_the_harness_sees_each_functions_calls(world: World) -> None:
    actions = {f: {a for a, _, _ in needed_by(world, f)} for f in ROLE_OF}
    assert {"ots:PutRow", "ots:GetRow"} <= actions["initializer"]
    assert {"oss:PutObject", "mns:SendMessage", "ots:UpdateRow"} <= actions["result_fetcher"]
    assert {"oss:GetObject", "mns:SendMessage"} <= actions["notifier"]
    assert {"ots:GetRange", "ots:BatchGetRow", "ots:DeleteRow"} <= actions["sweeper"]


@pytest.mark.parametrize("function", sorted(ROLE_OF))
def test_each_functions_role_grants_every_call_it_makes(world: World, function: str) -> None:
    statements = role_statements(world.stack, ROLE_OF[function])
    missing = sorted(n for n in needed_by(world, function) if not allowed(statements, *n))
    assert missing == [], f"{function} ({ROLE_OF[function]}) would get 403 on: {missing}"


#: Table grants no driven path uses, kept on purpose: whether RAM authorizes a GetRange on an index under the index's
#: name or its base table's is unverified (template.yml, SweeperRole), so the base table is granted too.
KEPT_UNUSED = {("SweeperRole", "kyc_transactions", "ots:GetRange")}


def _unused_table_grants(world: World, role: str) -> dict[str, list[str]]:
    """table → the ots: actions ``role`` grants on it that none of its functions made on any path driven here
    (``KEPT_UNUSED`` aside)."""
    needed = set().union(*(needed_by(world, f) for f, r in ROLE_OF.items() if r == role))
    used = {(action, resource) for action, resource, _ in needed if action.startswith("ots:")}
    unused: dict[str, list[str]] = defaultdict(list)
    for actions, resources, _ in role_statements(world.stack, role):
        for resource in resources:
            for action in actions:
                if not action.startswith("ots:") or (action, resource) in used:
                    continue
                table = resource.rsplit("/", 1)[1]
                if (role, table, action) not in KEPT_UNUSED:
                    unused[table].append(action)
    return {table: sorted(actions) for table, actions in sorted(unused.items())}


def test_the_internet_facing_initializers_role_cannot_rewrite_delete_or_scan_verification_rows(world: World) -> None:
    """The initializer (anonymous HTTP trigger) creates a row (PutRow, expected not to exist), reads one (GetRow) and
    counts in the rate table; its role also lets code running in it UpdateRow any verification (status PASSED),
    DeleteRow it, or GetRange/BatchGetRow the whole table and its indexes."""
    table = world.stack.layout.table
    unused = _unused_table_grants(world, "InitializerRole")
    assert unused.get(table, []) == [], f"InitializerRole on {table}: {unused.get(table)}"


def test_the_notifiers_role_cannot_write_delete_or_scan_verification_rows(world: World) -> None:
    """The notifier (which POSTs to configured URLs) only reads one row per message (GetRow); its role also grants
    PutRow, UpdateRow, DeleteRow, GetRange and BatchGetRow on the transactions table."""
    table = world.stack.layout.table
    unused = _unused_table_grants(world, "NotifierRole")
    assert unused.get(table, []) == [], f"NotifierRole on {table}: {unused.get(table)}"


@pytest.mark.parametrize("role", sorted(set(ROLE_OF.values())))
def test_each_role_grants_only_the_table_calls_its_functions_make(world: World, role: str) -> None:
    """The commit's claim ('each role grants exactly its functions' calls'; docs/security.md: 'each granting exactly
    the calls its function's code makes'), table by table, against what its functions did on every path driven."""
    unused = _unused_table_grants(world, role)
    assert unused == {}, f"{role} grants table calls none of its functions makes: {unused}"
