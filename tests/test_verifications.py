"""The verifications service on its own (no HTTP): what it refuses and that every refusal has an HTTP status."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import shared.verifications
from shared.cloudauth import INITIALIZE_SWITCHES
from shared.handlers.initializer import STATUS_BY_CODE
from shared.storage import SqliteTransactionStore
from shared.verifications import Refused, Verifications
from tests.fakes import T0, FakeClock, FakeCloudAuth
from tests.test_initializer_app import META, _settings

OWNER = "f" * 64


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTransactionStore]:
    s = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    yield s
    s.close()


def _service(store: SqliteTransactionStore, client: FakeCloudAuth | None = None) -> Verifications:
    return Verifications(settings=_settings(), client=client or FakeCloudAuth(), store=store,  # type: ignore[arg-type]
                         clock=FakeClock(T0))


def test_every_refusal_code_the_service_raises_has_an_http_status() -> None:
    tree = ast.parse(Path(shared.verifications.__file__).read_text())
    codes = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id in {"Refused", "NotBilled", "refusal"} and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert len(codes) >= 10  # the probe finds them
    assert codes <= set(STATUS_BY_CODE)


def test_every_switch_is_accepted_under_its_api_name(store: SqliteTransactionStore) -> None:
    _, fields = _service(store).start_request(
        {"docType": "01000000", "metaInfo": META, **{s.api_name: "v" for s in INITIALIZE_SWITCHES}}, OWNER
    )
    assert set(fields["extra"]) == {s.parameter for s in INITIALIZE_SWITCHES}


def test_a_started_verification_is_stored_pending_for_its_owner(store: SqliteTransactionStore) -> None:
    started = _service(store).start(OWNER, {"docType": "01000000", "metaInfo": META})
    row = _service(store).get(OWNER, started.merchant_biz_id)
    assert row.status == "PENDING" and row.transaction_id == started.transaction_id


@pytest.mark.parametrize("mbid", ["nope", "../x", "é"])
def test_someone_else_s_or_a_malformed_id_is_not_found(store: SqliteTransactionStore, mbid: str) -> None:
    started = _service(store).start(OWNER, {"docType": "01000000", "metaInfo": META})
    for owner, merchant_biz_id in (("e" * 64, started.merchant_biz_id), (OWNER, mbid)):
        with pytest.raises(Refused) as info:
            _service(store).get(owner, merchant_biz_id)
        assert info.value.code == "NotFound"
