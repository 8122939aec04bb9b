"""The sandbox's own copy of the vendor's rules agrees with the client's (shared.products, shared.cloudauth.params).

The copies are kept apart on purpose (the sandbox must not agree with a wrong assumption by construction); this test
is where a change to one without the other shows.
"""

from __future__ import annotations

import pytest

from shared import doctypes, products
from shared.cloudauth import ENUMS
from tools.sandbox import catalog, vendor

BOTH = sorted(set(catalog.PRODUCTS) & {code for code, row in products.PRODUCTS.items() if row.supported})


def test_the_sandbox_plays_every_product_the_project_supports() -> None:
    assert sorted(products.SUPPORTED) == BOTH


def test_the_regions_are_the_same() -> None:
    assert set(products.REGION_NAMES) == catalog.REGIONS


@pytest.mark.parametrize("code", BOTH)
def test_a_product_is_offered_in_the_same_regions_and_started_by_the_same_operation(code: str) -> None:
    ours, theirs = catalog.PRODUCTS[code], products.PRODUCTS[code]
    assert ours.regions == set(theirs.regions or ())
    assert theirs.start_operation in ours.operations


@pytest.mark.parametrize("code", BOTH)
def test_a_product_has_a_document_in_both_or_in_neither(code: str) -> None:
    ours, theirs = catalog.PRODUCTS[code], products.PRODUCTS[code]
    assert ours.document == theirs.has_document
    assert ours.document == (theirs.doc_type is products.DocTypeUse.REQUIRED)


@pytest.mark.parametrize("code", [code for code in BOTH if catalog.PRODUCTS[code].document])
def test_a_product_takes_the_same_document_types_in_each_region(code: str) -> None:
    ours, theirs = catalog.PRODUCTS[code], products.PRODUCTS[code]
    assert theirs.doc_types is not None
    for region in sorted(ours.regions):
        assert catalog.documents_in(ours, region) == theirs.doc_types.codes_in(region), region


def test_the_document_tables_are_the_same() -> None:
    assert set(catalog.EKYC_DOCUMENTS) == set(doctypes.DOC_TYPES)
    assert set(catalog.CERTIFICATES) == set(doctypes.CERTIFICATE_TYPES)
    assert {code for code, row in doctypes.CERTIFICATE_TYPES.items() if not row.face_photo} == catalog.NO_PORTRAIT


def test_the_enumerated_values_are_the_same() -> None:
    for name, values in vendor.INITIALIZE_ENUMS.items():
        assert ENUMS[name] == values, name
