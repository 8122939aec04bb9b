"""The verifications service on its own (no HTTP): what it refuses and that every refusal has an HTTP status."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shared.verifications
from shared import products
from shared.cloudauth import (
    INITIALIZE_SWITCHES,
    INITIALIZE_V2_SWITCHES,
    STRICT_BASELINE,
    SWITCHES,
    InitializeRequest,
    InitializeV2Request,
    Switch,
)
from shared.config import ConfigError
from shared.handlers.initializer import STATUS_BY_CODE
from shared.storage import SqliteTransactionStore, TransactionRecord
from shared.values import replace
from shared.verifications import (
    START_CALLS,
    ProductOffer,
    Refused,
    Verifications,
    vendor_switches,
    verification_view,
)
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


def _valid(switch: Switch) -> str:
    return min(switch.values) if switch.values else "{}" if switch.json_object else "v"


def test_every_request_switch_is_accepted_under_its_api_name(store: SqliteTransactionStore) -> None:
    request_switches = [s for s in INITIALIZE_SWITCHES if not s.assurance]
    _, fields = _service(store).start_request(
        {"docType": "01000000", "metaInfo": META, **{s.api_name: _valid(s) for s in request_switches}}, OWNER
    )
    baseline = {INITIALIZE_SWITCHES.by_api_name[name].parameter for name in STRICT_BASELINE}
    assert set(fields["extra"]) == {s.parameter for s in request_switches} | baseline


@pytest.mark.parametrize(("value", "rule"), [("", "must not be empty"), ("maybe", "must be one of 0/1")])
def test_a_request_switch_with_a_bad_value_is_refused_naming_it_as_the_request_did(
    store: SqliteTransactionStore, value: str, rule: str
) -> None:
    """Found by review: ``showGuidePage: ""`` answered MissingParameter "ShowGuidePage is required" (the vendor's
    name, and the switch is optional)."""
    client = FakeCloudAuth()
    refusal = _refusal(_service(store, client), {"docType": "01000000", "metaInfo": META, "showGuidePage": value})
    assert (refusal.code, refusal.message) == ("InvalidParameter", f"showGuidePage {rule}")
    assert client.initialize_calls == []


@pytest.mark.parametrize("switch", [s for s in INITIALIZE_SWITCHES if s.assurance], ids=lambda s: s.api_name)
def test_a_request_never_sets_how_strict_the_verification_is(store: SqliteTransactionStore, switch: Switch) -> None:
    """Found by review: the browser is the person being verified's, and ``idSpoof: "N"`` from it turned the
    vendor's anti-spoofing off (``editOcrResult``, ``showAlbumIcon``... alike)."""
    client = FakeCloudAuth()
    refusal = _refusal(_service(store, client), {"docType": "01000000", "metaInfo": META, switch.api_name: "N"})
    assert refusal.code == "InvalidParameter" and switch.api_name in refusal.message
    assert "KYC_VENDOR_SWITCHES" in refusal.message and client.initialize_calls == []


def test_the_deployment_s_assurance_switches_go_with_every_start_that_takes_them(
    store: SqliteTransactionStore,
) -> None:
    client = FakeCloudAuth()
    chosen = '{"idSpoof": "Y", "securityLevel": "02", "procedurePriority": "keep", "styleConfig": {"a": 1}}'
    settings = replace(_settings(), vendor_switches=vendor_switches(chosen))
    service = Verifications(settings=settings, client=client, store=store,  # type: ignore[arg-type]
                            clock=FakeClock(T0), offer=_offer())
    service.start(OWNER, {"docType": "01000000", "metaInfo": META, "languageConfig": "en"})
    service.start(OWNER, {"productCode": "FACE_LIVENESS_PRO", "metaInfo": META, "procedurePriority": "url"})
    assert [call.extra for call in client.initialize_calls] == [
        {"IdSpoof": "Y", "IdThreshold": "0", "ShowAlbumIcon": "0", "EditOcrResult": "0",  # the strict baseline
         "SecurityLevel": "02", "ProcedurePriority": "keep", "StyleConfig": '{"a":1}', "LanguageConfig": "en"},
        # the face-only product takes no document switch; a request overrides a default that is not assurance
        {"SecurityLevel": "02", "ProcedurePriority": "url", "StyleConfig": '{"a":1}'},
    ]


def test_without_a_setting_every_document_start_is_strict_where_the_vendor_s_defaults_are_lax(
    store: SqliteTransactionStore,
) -> None:
    """Found by review: the vendor's defaults show the album upload, let the user edit what OCR read and turn
    OCR quality detection off; a deployment that set nothing let the person being verified use all three."""
    client = FakeCloudAuth()
    settings = replace(_settings(), vendor_switches=vendor_switches(None))
    service = Verifications(settings=settings, client=client, store=store,  # type: ignore[arg-type]
                            clock=FakeClock(T0), offer=_offer())
    service.start(OWNER, {"docType": "01000000", "metaInfo": META})
    service.start(OWNER, {"productCode": "FACE_LIVENESS_PRO", "metaInfo": META})
    assert [call.extra for call in client.initialize_calls] == [
        {"IdSpoof": "Y", "IdThreshold": "0", "ShowAlbumIcon": "0", "EditOcrResult": "0"}, {}]


def test_the_deployment_relaxes_the_baseline_only_by_saying_so() -> None:
    assert vendor_switches('{"showAlbumIcon": "1"}') == {**STRICT_BASELINE, "showAlbumIcon": "1"}


@pytest.mark.parametrize(
    ("setting", "named"),
    [("[]", "JSON object"), ('{"nope": "Y"}', "nope is not a switch"), ('{"idSpoof": "maybe"}', "idSpoof"),
     ('{"styleConfig": "[1]"}', "styleConfig"), ("{", "JSON object")],
)
def test_a_deployment_switch_setting_that_is_not_usable_fails_the_start_naming_the_switch(
    setting: str, named: str
) -> None:
    with pytest.raises(ConfigError) as info:
        vendor_switches(setting)
    assert info.value.variable == "KYC_VENDOR_SWITCHES" and named in str(info.value)


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


# --- products: which one, started how, with which docType and switches -------------------------------------------


def _offer(region: str = products.HONG_KONG, *allowed: str) -> ProductOffer:
    allowed = allowed or ("eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO")
    return ProductOffer(default=allowed[0], allowed=allowed, region=region)


def _products_service(
    store: SqliteTransactionStore, client: FakeCloudAuth, offer: ProductOffer | None = None
) -> Verifications:
    return Verifications(settings=_settings(), client=client, store=store,  # type: ignore[arg-type]
                         clock=FakeClock(T0), offer=offer or _offer())


def _refusal(service: Verifications, body: dict[str, Any]) -> Refused:
    with pytest.raises(Refused) as info:
        service.start(OWNER, body)
    return info.value


def test_every_supported_product_has_a_start_call_and_a_switch_table() -> None:
    for code in products.SUPPORTED:
        product = products.PRODUCTS[code]
        assert product.start_operation in START_CALLS and product.start_operation in SWITCHES, code


def test_a_request_without_product_code_starts_the_default_product_with_its_operation(
    store: SqliteTransactionStore,
) -> None:
    client = FakeCloudAuth()
    started = _products_service(store, client).start(OWNER, {"docType": "01000000", "metaInfo": META})
    (request,) = client.initialize_calls
    assert isinstance(request, InitializeRequest) and request.product_code == "eKYC"
    assert store.get(started.merchant_biz_id).product_code == "eKYC"  # type: ignore[union-attr]


@pytest.mark.parametrize(("product", "doc_type"), [("eKYC_PRO", "GLB03002"), ("FACE_LIVENESS_PRO", None)])
def test_an_initialize_v2_product_is_started_with_initialize_v2_and_recorded(
    store: SqliteTransactionStore, product: str, doc_type: str | None
) -> None:
    client = FakeCloudAuth()
    body = {"productCode": product, "metaInfo": META, **({"docType": doc_type} if doc_type else {})}
    started = _products_service(store, client).start(OWNER, body)
    (request,) = client.initialize_calls
    assert isinstance(request, InitializeV2Request)
    assert (request.product_code, request.doc_type) == (product, doc_type)
    row = store.get(started.merchant_biz_id)
    assert row is not None and (row.product_code, row.doc_type) == (product, doc_type or "")
    view = verification_view(row)
    assert (view["productCode"], view["docType"]) == (product, doc_type)


def test_the_view_writes_its_times_as_rfc3339_in_utc_to_the_millisecond_whatever_the_server_s_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        row = TransactionRecord(merchant_biz_id="abc123", transaction_id="t1", merchant_user_id="u",
                                doc_type="01000000", created_at=1_700_000_000.1239, updated_at=1_700_000_000.0)
        view = verification_view(row)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert (view["createdAt"], view["updatedAt"]) == ("2023-11-14T22:13:20.123Z", "2023-11-14T22:13:20.000Z")
    assert view["finalizedAt"] is None and view["nextCheckAt"] is None


@pytest.mark.parametrize("code", ["NOPE", "eKYC_MIN", "ID_NFC", "FACE_LIVENESS_PRO", "", 7, ["eKYC"]])
def test_a_product_the_deployment_does_not_allow_is_refused_with_the_allowed_list(
    store: SqliteTransactionStore, code: Any
) -> None:
    client = FakeCloudAuth()
    service = _products_service(store, client, _offer(products.HONG_KONG, "eKYC", "eKYC_PRO"))
    refusal = _refusal(service, {"productCode": code, "docType": "01000000", "metaInfo": META})
    assert refusal.code == "ProductNotAllowed" and refusal.details == {"allowed": ["eKYC", "eKYC_PRO"]}
    assert client.initialize_calls == []


def test_a_null_product_code_is_the_default_product(store: SqliteTransactionStore) -> None:
    client = FakeCloudAuth()
    _products_service(store, client).start(OWNER, {"productCode": None, "docType": "01000000", "metaInfo": META})
    assert client.initialize_calls[0].product_code == "eKYC"


def test_a_refused_product_costs_no_rate_limit_slot(store: SqliteTransactionStore) -> None:
    client = FakeCloudAuth()
    service = Verifications(settings=_settings(rate_limit=1), client=client, store=store,  # type: ignore[arg-type]
                            clock=FakeClock(T0), offer=_offer())
    assert _refusal(service, {"productCode": "NOPE", "metaInfo": META}).code == "ProductNotAllowed"
    service.start(OWNER, {"productCode": "FACE_LIVENESS_PRO", "metaInfo": META})  # the one slot is still free


def test_a_document_product_needs_a_doc_type(store: SqliteTransactionStore) -> None:
    refusal = _refusal(_products_service(store, FakeCloudAuth()), {"productCode": "eKYC_PRO", "metaInfo": META})
    assert refusal.code == "MissingParameter" and "docType" in refusal.message and "eKYC_PRO" in refusal.message


@pytest.mark.parametrize(("field", "value"), [("docType", 1000000), ("docType", ["01000000"]), ("metaInfo", 5)])
def test_a_field_of_the_wrong_type_is_invalid_not_missing(
    store: SqliteTransactionStore, field: str, value: Any
) -> None:
    body = {"docType": "01000000", "metaInfo": META, field: value}
    refusal = _refusal(_service(store, FakeCloudAuth()), body)
    assert refusal.code == "InvalidParameter" and field in refusal.message


def test_a_face_only_product_refuses_a_doc_type(store: SqliteTransactionStore) -> None:
    body = {"productCode": "FACE_LIVENESS_PRO", "docType": "GLB03002", "metaInfo": META}
    refusal = _refusal(_products_service(store, FakeCloudAuth()), body)
    assert refusal.code == "InvalidParameter" and "docType" in refusal.message


@pytest.mark.parametrize(
    ("product", "doc_type", "region"),
    [("eKYC", "GLB03002", products.HONG_KONG),  # another product's code
     ("eKYC_PRO", "01000000", products.HONG_KONG),
     ("eKYC_PRO", "HKG02001", products.HONG_KONG),  # no portrait: not an eKYC_PRO document
     ("eKYC_PRO", "MYS01001", products.JAKARTA),  # Jakarta takes IDN01001 and GLB03002 only
     ("eKYC_PRO", "IDN01001", products.KUALA_LUMPUR)],
)  # fmt: skip
def test_a_doc_type_the_product_does_not_take_in_the_region_is_refused_before_any_call(
    store: SqliteTransactionStore, product: str, doc_type: str, region: str
) -> None:
    client = FakeCloudAuth()
    service = _products_service(store, client, ProductOffer(product, (product,), region))
    refusal = _refusal(service, {"productCode": product, "docType": doc_type, "metaInfo": META})
    assert refusal.code == "InvalidParameter" and refusal.message.startswith("docType")
    assert "GET /verifications/products" in refusal.message  # where the accepted codes are listed
    assert client.initialize_calls == []


@pytest.mark.parametrize(("region", "doc_type"), [(products.JAKARTA, "IDN01001"), (products.KUALA_LUMPUR, "MYS01001"),
                                                  (products.SINGAPORE, "SGP01001")])
def test_a_doc_type_the_region_takes_is_sent(store: SqliteTransactionStore, region: str, doc_type: str) -> None:
    client = FakeCloudAuth()
    service = _products_service(store, client, ProductOffer("eKYC_PRO", ("eKYC_PRO",), region))
    service.start(OWNER, {"docType": doc_type, "metaInfo": META})
    assert client.initialize_calls[0].doc_type == doc_type


def test_a_face_only_product_refuses_a_document_switch_and_takes_the_face_switches(
    store: SqliteTransactionStore,
) -> None:
    client = FakeCloudAuth()
    service = _products_service(store, client)
    refusal = _refusal(service, {"productCode": "FACE_LIVENESS_PRO", "metaInfo": META, "docScanMode": "auto"})
    assert refusal.code == "InvalidParameter" and "docScanMode" in refusal.message
    service.start(OWNER, {"productCode": "FACE_LIVENESS_PRO", "metaInfo": META, "showGuidePage": "0",
                          "languageConfig": "en"})
    assert client.initialize_calls[0].extra == {"ShowGuidePage": "0", "LanguageConfig": "en"}


def test_every_initialize_v2_switch_is_accepted_for_ekyc_pro(store: SqliteTransactionStore) -> None:
    request_switches = [s for s in INITIALIZE_V2_SWITCHES if not s.assurance]
    body = {"productCode": "eKYC_PRO", "docType": "GLB03002", "metaInfo": META,
            **{s.api_name: _valid(s) for s in request_switches}}
    _, fields = _products_service(store, FakeCloudAuth()).start_request(body, OWNER)
    baseline = {INITIALIZE_SWITCHES.by_api_name[name].parameter for name in STRICT_BASELINE}
    assert set(fields["extra"]) == {s.parameter for s in request_switches} | baseline


def test_the_products_view_lists_the_allowed_products_with_their_documents_in_the_region() -> None:
    view = _offer(products.JAKARTA, "eKYC_PRO", "FACE_LIVENESS_PRO").view()
    assert (view["region"], view["regionName"], view["defaultProduct"]) == (
        "ap-southeast-5", "Indonesia (Jakarta)", "eKYC_PRO")
    pro, face = view["products"]
    assert pro["productCode"] == "eKYC_PRO" and pro["docTypeRequired"] and pro["verifiesDocument"]
    assert pro["docTypes"] == [{"code": "GLB03002", "name": "Global passport (e-passport, MRZ)"},
                               {"code": "IDN01001", "name": "Indonesia identity card"}]
    assert "docScanMode" in pro["switches"] and "idSpoof" not in pro["switches"]  # what a request may set
    assert face["productCode"] == "FACE_LIVENESS_PRO" and face["docTypes"] == []
    assert not face["docTypeRequired"] and not face["verifiesDocument"]
    assert "docScanMode" not in face["switches"] and "showGuidePage" in face["switches"]


def test_the_products_view_names_every_document_type_of_the_tables() -> None:
    for product in _offer().view()["products"]:
        assert all(doc["name"] for doc in product["docTypes"]), product["productCode"]


# -- found by mutating shared.verifications (review bp) ------------------------------------------------------------


@pytest.mark.parametrize("value", [1, ["https://shop.example/"], {"url": "https://shop.example/"}])
def test_a_return_url_that_is_not_a_string_is_refused_as_one(store: SqliteTransactionStore, value: Any) -> None:
    refusal = _refusal(_service(store, FakeCloudAuth()), {"docType": "01000000", "metaInfo": META, "returnUrl": value})
    assert refusal.code == "InvalidReturnUrl" and "returnUrl" in refusal.message
