"""End to end over HTTP for the products started by InitializeV2: eKYC_PRO (global documents) and FACE_LIVENESS_PRO
(liveness only), next to eKYC (Initialize), from ``POST /verifications`` with ``productCode`` to the signed webhook.

The stack is ``./scripts/dev``'s: the sandbox plays China (Hong Kong), where all three products exist, and every
supported product is allowed. Flows end through the sandbox's page (the form a user submits) or its control API.
"""

from __future__ import annotations

import http.client
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from shared import jsonutil
from tests.e2e.support import E2EStack, MakeStack, Started, delivered, kept_answer
from tools.devstack.dev import StartError

PRO_PASSPORT = "GLB03002"
PRO_CARD = "MYS01001"  # Malaysia's MyKad: eKYC_PRO's own field names (firstName, lastName, dateOfBirth, idNumber)
CARD_IDENTITY = {"firstName": "ZEPHYRINE", "lastName": "QUIXOTEVANE", "dateOfBirth": "1983-07-19",
                 "idNumber": "830719147731", "countryCode": "MYS", "expiryDate": "2031-02-03", "sex": "F"}


def start(stack: E2EStack, product: str, doc_type: str | None = None, **extra: Any) -> Started:
    token = stack.token()
    body = {"productCode": product, "metaInfo": stack.meta_info(), "returnUrl": f"{stack.url}/", **extra}
    if doc_type is not None:
        body["docType"] = doc_type
    reply = stack.call("POST", "/verifications", body, token)
    assert reply.status == 201, (reply.status, reply.body[:300])
    data = reply.json()
    return Started(data["merchantBizId"], data["transactionId"], data["transactionUrl"], token)


def _sandbox(stack: E2EStack, method: str, path: str, body: str | None = None) -> tuple[int, str, dict[str, str]]:
    parts = urlsplit(stack.sandbox_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def finish_on_the_page(stack: E2EStack, started: Started, outcome: str, **fields: str) -> str:
    """What a user does: open the vendor's page (TransactionUrl), choose an outcome, submit. Returns the page."""
    path = urlsplit(started.transaction_url).path
    status, html, _ = _sandbox(stack, "GET", path)
    assert status == 200, html[:300]
    session = re.search(r'name=session value="([^"]+)"', html)
    assert session is not None, "the page has no form"
    form = urlencode({"session": session.group(1), "outcome": outcome, **fields})
    status, _, headers = _sandbox(stack, "POST", f"{path}/finish", form)
    assert status == 302 and headers["location"] == f"{stack.url}/", status  # back to the returnUrl
    return html


def stored_document(stack: E2EStack, merchant_biz_id: str, images: tuple[str, ...]) -> dict[str, Any]:
    prefix = kept_answer(stack, merchant_biz_id)
    objects = stack.objects()
    assert objects.list(f"results/{merchant_biz_id}/") == sorted([*(f"{prefix}{name}.jpg" for name in images),
                                                                  f"{prefix}result.json"])
    raw = objects.get(f"{prefix}result.json")
    assert b"/9j/" not in raw and b"SANDBOX PLACEHOLDER" not in raw, "result.json carries image bytes"
    document: dict[str, Any] = jsonutil.loads(raw)
    return document


def only_event(stack: E2EStack) -> dict[str, Any]:
    stack.wait_for_webhooks(1)
    stack.settle()
    (event,) = delivered(stack)  # each signature verified independently of the demo receiver
    assert event["type"] == "verification.completed"
    return event  # type: ignore[no-any-return]


# --- what a frontend is offered -----------------------------------------------------------------------------------


def test_the_dev_stack_offers_the_three_products_of_hong_kong_without_a_token(stack: E2EStack) -> None:
    reply = stack.call("GET", "/verifications/products")
    assert reply.status == 200
    offer = reply.json()
    assert (offer["region"], offer["defaultProduct"]) == ("cn-hongkong", "eKYC")
    ekyc, pro, face = offer["products"]
    assert (ekyc["productCode"], pro["productCode"], face["productCode"]) == ("eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO")
    assert ekyc["docTypes"][0] == {"code": "01000000", "name": "Passport (global)"}
    assert {PRO_PASSPORT, PRO_CARD} <= {d["code"] for d in pro["docTypes"]}
    assert "HKG02001" not in {d["code"] for d in pro["docTypes"]}  # no portrait: not an eKYC_PRO document
    assert (face["docTypes"], face["docTypeRequired"], face["verifiesDocument"]) == ([], False, False)


def test_an_unknown_product_is_refused_with_the_allowed_list_and_nothing_is_started(stack: E2EStack) -> None:
    reply = stack.call("POST", "/verifications", {"productCode": "ID_NFC", "metaInfo": stack.meta_info()},
                       stack.token())
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "ProductNotAllowed"
    assert reply.json()["error"]["allowed"] == ["eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO"]
    assert stack.control("GET", "transactions")["transactions"] == []


def test_the_face_product_refuses_a_document_and_a_document_switch(stack: E2EStack) -> None:
    token = stack.token()
    for extra in ({"docType": PRO_PASSPORT}, {"docScanMode": "auto"}):
        body = {"productCode": "FACE_LIVENESS_PRO", "metaInfo": stack.meta_info(), **extra}
        reply = stack.call("POST", "/verifications", body, token)
        assert (reply.status, reply.json()["error"]["code"]) == (400, "InvalidParameter")
    assert stack.control("GET", "transactions")["transactions"] == []


# --- eKYC_PRO ------------------------------------------------------------------------------------------------------


def test_ekyc_pro_passport_passed_on_the_page_is_stored_masked_and_notified(make_stack: MakeStack) -> None:
    stack = make_stack(KYC_VENDOR_SWITCHES='{"idSpoof": "Y"}')  # the deployment's, never the request's
    started = start(stack, "eKYC_PRO", PRO_PASSPORT)
    vendor_side = stack.control("GET", f"transactions/{started.transaction_id}")
    assert (vendor_side["action"], vendor_side["productCode"], vendor_side["docType"]) == (
        "InitializeV2", "eKYC_PRO", PRO_PASSPORT)
    assert vendor_side["parameters"]["IdSpoof"] == "Y"
    row = stack.row(started.merchant_biz_id)
    assert (row.status, row.product_code, row.doc_type) == ("PENDING", "eKYC_PRO", PRO_PASSPORT)

    html = finish_on_the_page(stack, started, "pass")
    assert 'id="outcome-spoof"' in html or "id=outcome-spoof" in html  # a document flow can be spoofed
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    event = only_event(stack)

    assert (row.passed, row.sub_code, row.product_code) == ("Y", "200", "eKYC_PRO")
    assert row.identity_masked is not None and row.identity_masked["surname"] == "S*"  # the sandbox's SAMPLE
    assert row.face is not None and row.face["facePassed"] is True
    document = stored_document(stack, started.merchant_biz_id, ("faceImg", "idImage"))
    assert (document["productCode"], document["docType"]) == ("eKYC_PRO", PRO_PASSPORT)
    identity = document["result"]["identity"]
    assert identity["birthDate"] is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", identity["birthDate"])
    data = event["data"]
    assert (data["productCode"], data["docType"], data["status"]) == ("eKYC_PRO", PRO_PASSPORT, "PASSED")
    assert data["identity"] is None and data["face"] == row.face  # no identity fields selected: none shown
    view = stack.call("GET", f"/verifications/{started.merchant_biz_id}", token=started.token).json()
    assert (view["productCode"], view["docType"], view["docTypeName"]) == (
        "eKYC_PRO", PRO_PASSPORT, "Global passport (e-passport, MRZ)")


def test_ekyc_pro_id_card_identity_is_normalised_from_its_own_field_names(stack: E2EStack) -> None:
    started = start(stack, "eKYC_PRO", PRO_CARD)
    stack.complete(started.transaction_id, "pass", identity=CARD_IDENTITY)
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    event = only_event(stack)

    identity = stored_document(stack, started.merchant_biz_id, ("faceImg", "idImage"))["result"]["identity"]
    assert (identity["givenName"], identity["surname"]) == ("ZEPHYRINE", "QUIXOTEVANE")
    assert (identity["documentNumber"], identity["birthDate"], identity["expiryDate"]) == (
        "830719147731", "1983-07-19", "2031-02-03")
    assert (identity["sex"], identity["nationality"], identity["docType"]) == ("F", "MYS", PRO_CARD)
    assert row.identity_masked is not None and row.identity_masked["surname"] == "Q*"
    assert row.identity_masked["birthDate"] == "1983-**-**"
    assert event["data"]["identity"] is None  # a subscriber selecting no identity fields is shown none


def test_ekyc_pro_failed_verification_keeps_the_vendor_subcode(stack: E2EStack) -> None:
    started = start(stack, "eKYC_PRO", PRO_PASSPORT)
    stack.complete(started.transaction_id, "fail", subCode="205", identity={})
    row = stack.wait_for_status(started.merchant_biz_id, "FAILED")
    event = only_event(stack)

    assert (row.passed, row.sub_code, row.product_code) == ("N", "205", "eKYC_PRO")
    assert row.face is not None and row.face["facePassed"] is False
    document = stored_document(stack, started.merchant_biz_id, ("faceImg", "idImage"))
    assert (document["result"]["passed"], document["result"]["subCode"]) == ("N", "205")
    assert (event["data"]["status"], event["data"]["subCode"], event["data"]["productCode"]) == (
        "FAILED", "205", "eKYC_PRO")


def test_ekyc_pro_pending_result_is_rechecked_through_the_queue_until_it_fails(stack: E2EStack) -> None:
    started = start(stack, "eKYC_PRO", PRO_PASSPORT)
    stack.complete(started.transaction_id, "pending", pendingChecks=2, resolvesTo="fail", finalSubCode="206",
                   identity={})
    row = stack.wait_for_status(started.merchant_biz_id, "FAILED")
    event = only_event(stack)

    (callback,) = stack.callbacks(started.transaction_id)
    assert "passed=P" in callback["url"]  # the callback only said "pending"
    assert row.check_count == 2 and row.sub_code == "206"
    assert (event["data"]["status"], event["data"]["productCode"]) == ("FAILED", "eKYC_PRO")


# --- FACE_LIVENESS_PRO ---------------------------------------------------------------------------------------------


def test_face_liveness_passed_on_the_page_has_no_identity_and_the_face_verdicts(make_stack: MakeStack) -> None:
    stack = make_stack(KYC_VENDOR_SWITCHES='{"idSpoof": "Y", "model": "PHOTINUS_LIVENESS"}')
    started = start(stack, "FACE_LIVENESS_PRO")
    vendor_side = stack.control("GET", f"transactions/{started.transaction_id}")
    assert (vendor_side["action"], vendor_side["productCode"], vendor_side["docType"]) == (
        "InitializeV2", "FACE_LIVENESS_PRO", None)
    assert vendor_side["parameters"]["Model"] == "PHOTINUS_LIVENESS" and "DocType" not in vendor_side["parameters"]
    assert "IdSpoof" not in vendor_side["parameters"]  # a document switch: the face-only product does not take it

    html = finish_on_the_page(stack, started, "pass")
    assert "outcome-spoof" not in html  # no document, nothing to spoof
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    event = only_event(stack)

    assert (row.passed, row.product_code, row.doc_type, row.identity_masked) == ("Y", "FACE_LIVENESS_PRO", "", None)
    assert row.face is not None and (row.face["facePassed"], row.face["faceAttack"]) == (True, False)
    document = stored_document(stack, started.merchant_biz_id, ("faceImg",))
    assert (document["productCode"], document["docType"], document["result"]["identity"]) == (
        "FACE_LIVENESS_PRO", None, None)
    data = event["data"]
    assert (data["productCode"], data["docType"], data["identity"]) == ("FACE_LIVENESS_PRO", None, None)
    assert data["face"] == row.face
    view = stack.call("GET", f"/verifications/{started.merchant_biz_id}", token=started.token).json()
    assert (view["status"], view["docType"], view["identity"], view["face"]) == ("PASSED", None, None, row.face)


def test_face_liveness_attack_fails_with_the_attack_verdict(stack: E2EStack) -> None:
    started = start(stack, "FACE_LIVENESS_PRO")
    stack.complete(started.transaction_id, "fail", identity={})
    row = stack.wait_for_status(started.merchant_biz_id, "FAILED")
    event = only_event(stack)

    assert (row.passed, row.sub_code, row.identity_masked) == ("N", "205", None)
    assert row.face is not None and (row.face["facePassed"], row.face["faceAttack"]) == (False, True)
    assert (event["data"]["status"], event["data"]["face"]["faceAttack"], event["data"]["identity"]) == (
        "FAILED", True, None)


def test_face_liveness_pending_result_is_rechecked_until_it_passes(stack: E2EStack) -> None:
    started = start(stack, "FACE_LIVENESS_PRO")
    stack.complete(started.transaction_id, "pending", pendingChecks=2, identity={})
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    event = only_event(stack)

    assert row.check_count == 2 and row.identity_masked is None
    assert stack.control("GET", f"transactions/{started.transaction_id}")["checks"] == 3
    assert (event["data"]["status"], event["data"]["productCode"], event["data"]["identity"]) == (
        "PASSED", "FACE_LIVENESS_PRO", None)


# --- eKYC next to them ---------------------------------------------------------------------------------------------


def test_ekyc_without_a_product_code_is_still_started_with_initialize(stack: E2EStack) -> None:
    started = stack.start_verification()
    vendor_side = stack.control("GET", f"transactions/{started.transaction_id}")
    assert (vendor_side["action"], vendor_side["productCode"]) == ("Initialize", "eKYC")
    stack.complete(started.transaction_id, "pass")
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    assert only_event(stack)["data"]["productCode"] == row.product_code == "eKYC"


# --- ./scripts/dev in other regions --------------------------------------------------------------------------------


def test_the_banner_names_the_region_and_the_products_with_their_operations(make_stack: MakeStack) -> None:
    stack = make_stack(CLOUDAUTH_PRODUCTS="eKYC,eKYC_PRO,FACE_LIVENESS_PRO", CLOUDAUTH_REGION="cn-hongkong")
    banner = stack.dev.banner()
    assert "cn-hongkong (China (Hong Kong))" in banner
    assert "eKYC (Initialize), eKYC_PRO (InitializeV2), FACE_LIVENESS_PRO (InitializeV2)" in banner


def test_in_kuala_lumpur_the_dev_stack_offers_ekyc_pro_alone_with_the_regions_documents(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(CLOUDAUTH_REGION="ap-southeast-3")
    assert "ap-southeast-3 (Malaysia (Kuala Lumpur))" in stack.dev.banner()
    (pro,) = stack.call("GET", "/verifications/products").json()["products"]
    assert [d["code"] for d in pro["docTypes"]] == [PRO_PASSPORT, PRO_CARD]
    refused = stack.call("POST", "/verifications", {"productCode": "FACE_LIVENESS_PRO", "metaInfo": stack.meta_info()},
                         stack.token())
    assert (refused.status, refused.json()["error"]["allowed"]) == (400, ["eKYC_PRO"])

    started = start(stack, "eKYC_PRO", PRO_CARD)  # the default product too: productCode could be left out
    stack.complete(started.transaction_id, "pass", identity=CARD_IDENTITY)
    stack.wait_for_status(started.merchant_biz_id, "PASSED")
    assert only_event(stack)["data"]["docType"] == PRO_CARD


def test_a_product_list_the_region_cannot_serve_stops_the_start_naming_where_it_would_work(
    make_stack: MakeStack,
) -> None:
    with pytest.raises(StartError) as refused:
        make_stack(CLOUDAUTH_REGION="ap-southeast-3", CLOUDAUTH_PRODUCTS="eKYC_PRO,FACE_LIVENESS_PRO",
                   CLOUDAUTH_PRODUCT_CODE="eKYC_PRO")
    message = str(refused.value)
    assert message.startswith("configuration error: CLOUDAUTH_PRODUCTS")
    assert "FACE_LIVENESS_PRO is not offered in ap-southeast-3" in message and "ap-southeast-1" in message
