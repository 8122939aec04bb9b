"""Vendor facts of the client that no other test pinned to the sandbox's independent reading (found by review yy,
mutating each fact of shared/ in turn: these are the mutations no test caught).

Each test goes through the sandbox (tools/sandbox, a local cloudauth-intl with its own copy of the vendor's rules)
with the project's own client (shared.cloudauth.CloudAuthClient), so a wrong fact in shared/ shows as a
disagreement with the sandbox, not as the client agreeing with itself. The mutation each test was written for is
named in its docstring.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.cloudauth import (
    CloudAuthClient,
    CloudAuthError,
    CloudAuthSettings,
    InitializeRequest,
    InitializeV2Request,
    ParameterError,
)
from tests.sandbox.helpers import AK, SECRET
from tools.sandbox import SandboxConfig, SandboxServer

REFUSED_BY_CLIENT = "refused by the client before sending"
REFUSED_BY_VENDOR = "sent, and refused by the vendor"
ACCEPTED = "sent and accepted"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxConfig(port=0))
    server.start()
    yield server
    server.stop()


def client_for(server: SandboxServer, signature_version: str = "v3", **settings: str) -> CloudAuthClient:
    return CloudAuthClient(
        CloudAuthSettings(
            endpoint=server.base_url, access_key_id=AK, access_key_secret=SECRET, signature_version=signature_version,
            **settings,
        )
    )


def outcome(call: Callable[[], Any]) -> str:
    """Where a call ended: a client-side ParameterError has no HTTP status; the vendor's refusal has one."""
    try:
        call()
    except ParameterError as exc:
        return REFUSED_BY_CLIENT if exc.status is None else REFUSED_BY_VENDOR
    except CloudAuthError:
        return REFUSED_BY_VENDOR
    return ACCEPTED


def ekyc_request(merchant_biz_id: str, **extra: str) -> InitializeRequest:
    return InitializeRequest(
        merchant_biz_id=merchant_biz_id,
        meta_info='{"x":1}',
        merchant_user_id="u-hash",
        return_url="https://merchant.example/back",
        doc_type="01000000",
        extra=extra,
    )


# --- values the client lets through must be values the vendor takes ---------------------------------------------

# Near misses around the documented rule (SDK: "must start with +62 followed by 9 to 11 digits"): another country's
# prefix, too few / too many digits, no plus.
MOBILES = ["+62812345678", "+628123456789012", "+60123456789", "+6581234567", "+6212345678", "62812345678"]


def test_the_client_never_sends_a_mobile_number_the_vendor_refuses(sandbox: SandboxServer) -> None:
    """Mutation M20 (shared/cloudauth/params.py): ``_MOBILE = r"\\+62[0-9]{9,11}"`` -> ``r"\\+6[0-9][0-9]{9,11}"``."""
    client = client_for(sandbox)
    seen = {
        mobile: outcome(functools.partial(client.initialize, ekyc_request(f"mobile{i}", Mobile=mobile)))
        for i, mobile in enumerate(MOBILES)
    }
    assert {m: o for m, o in seen.items() if o == REFUSED_BY_VENDOR} == {}
    assert seen["+62812345678"] == ACCEPTED


DELETE_TYPES = ["All", "Img", "Text", "Image", "Images", "all", "ALL", "None", "Txt"]


def test_the_client_never_sends_a_delete_type_the_vendor_refuses(sandbox: SandboxServer) -> None:
    """Mutation M39 (shared/cloudauth/params.py): ``"DeleteType": frozenset({"Img", "Text", "All"})`` ->
    ``frozenset({"Img", "Text", "All", "Image"})``."""
    client = client_for(sandbox)
    # An unfinished flow: the vendor checks the parameters, then answers DeleteResult N and keeps the flow.
    tid = client.initialize(ekyc_request("deltype01")).transaction_id
    delete = functools.partial(client.delete_verify_result, tid, delete_after_query=False)
    seen = {kind: outcome(functools.partial(delete, delete_type=kind)) for kind in DELETE_TYPES}
    assert {k: o for k, o in seen.items() if o == REFUSED_BY_VENDOR} == {}
    assert {k for k, o in seen.items() if o == ACCEPTED} == {"All", "Img", "Text"}


# --- what the vendor requires, the client requires -----------------------------------------------------------------


def test_the_client_refuses_an_ekyc_start_without_a_doc_type_before_sending(sandbox: SandboxServer) -> None:
    """Mutation N42 (shared/cloudauth/params.py): ``INITIALIZE_REQUIRED = (..., "ReturnUrl", "DocType")`` ->
    ``(..., "ReturnUrl")``. eKYC's Initialize requires DocType ("Required: Yes"; the sandbox answers
    MissingParameter): a start without one must not be sent."""
    client = client_for(sandbox)
    request = InitializeRequest(
        merchant_biz_id="nodoctype1",
        meta_info='{"x":1}',
        merchant_user_id="u-hash",
        return_url="https://merchant.example/back",
        doc_type=None,  # type: ignore[arg-type]
    )
    assert outcome(lambda: client.initialize(request)) == REFUSED_BY_CLIENT


@pytest.mark.parametrize("field", ["meta_info", "merchant_user_id", "return_url"])
def test_the_client_refuses_an_ekyc_pro_start_without_a_parameter_the_vendor_requires(
    sandbox: SandboxServer, field: str
) -> None:
    """Mutation P01 (shared/cloudauth/params.py, INITIALIZE_V2.required): ``("ProductCode", "MerchantBizId",
    "MetaInfo", "MerchantUserId", "ReturnUrl")`` -> ``("ProductCode", "MerchantBizId", "MetaInfo", "ReturnUrl")``
    (fails the merchant_user_id case). The sandbox requires each on InitializeV2 (MissingParameter)."""
    client = client_for(sandbox, product_code="eKYC_PRO", region="cn-hongkong")
    fields: dict[str, Any] = {
        "merchant_biz_id": f"v2missing{len(field)}",
        "meta_info": '{"x":1}',
        "merchant_user_id": "u-hash",
        "return_url": "https://merchant.example/back",
        "product_code": "eKYC_PRO",
        "doc_type": "GLB03002",
    }
    fields[field] = None
    assert outcome(lambda: client.initialize_v2(InitializeV2Request(**fields))) == REFUSED_BY_CLIENT


# The switches the SDK's parameter comments tie to the document step (IdSpoof, Authorize, IdThreshold, ShowAlbumIcon,
# ShowOcrResult, EditOcrResult, DocScanMode, ProductFlow, Pages, UseNFC): a product that verifies no document is never
# sent one. The sandbox models no per-product switch list (it ignores them), so this list is the test's own reading.
DOCUMENT_SWITCHES = {
    "IdSpoof": "Y", "Authorize": "T", "IdThreshold": "0", "ShowAlbumIcon": "0", "ShowOcrResult": "0",
    "EditOcrResult": "0", "DocScanMode": "auto", "ProductFlow": "DOC_FACE", "Pages": "01", "UseNFC": "N",
}  # fmt: skip


@pytest.mark.parametrize("parameter", sorted(DOCUMENT_SWITCHES))
def test_a_face_only_start_is_never_sent_a_document_switch(sandbox: SandboxServer, parameter: str) -> None:
    """Mutation P05 (shared/cloudauth/switches.py): ``Switch("pages", "Pages", ("01", "01,02"), document=True,
    assurance=True)`` -> ``Switch("pages", "Pages", ("01", "01,02"), assurance=True)`` (fails the Pages case)."""
    client = client_for(sandbox, product_code="FACE_LIVENESS_PRO", region="cn-hongkong")
    request = InitializeV2Request(
        merchant_biz_id=f"faceonly{len(parameter)}",
        meta_info='{"x":1}',
        merchant_user_id="u-hash",
        return_url="https://merchant.example/back",
        extra={parameter: DOCUMENT_SWITCHES[parameter]},
    )
    assert outcome(lambda: client.initialize_v2(request)) == REFUSED_BY_CLIENT


# --- what each document code is ------------------------------------------------------------------------------------


def _words(name: str) -> set[str]:
    return {word.strip("(),;'").lower() for word in name.replace("/", " ").split()} - {""}


def test_each_document_code_names_the_document_the_sandbox_names() -> None:
    """Mutations D1 (shared/doctypes.py, two adjacent lines: ``HK_MACAO_EXIT_ENTRY_PERMIT = "00000007"`` /
    ``HK_MACAO_RESIDENT_TRAVEL_PERMIT = "00000009"`` swapped) and D2 (the exit-entry permit's row renamed). The
    sandbox's catalog is its own table; the test on it (tests/sandbox/test_catalog.py) compares only the sets of
    codes, so two codes swapped, or a row naming another document, went unnoticed, and the sandbox's OCR fields
    (tools/sandbox/synth.py, keyed by shared.doctypes' constants) follow such a swap. Every word of the sandbox's
    name must be in the client's (the client's names are sometimes longer: "(2021, chip)")."""
    from shared import doctypes
    from tools.sandbox import catalog

    differ = {
        code: (doctypes.document_name(code), name)
        for code, name in catalog.DOCUMENT_NAMES.items()
        if not _words(name) <= _words(doctypes.document_name(code) or "")
    }
    assert differ == {}
