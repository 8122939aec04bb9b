"""Each function's FC ``initialize`` (``functions/<name>/index.py``) checks the product/region pair against the
vendor's facts (``shared.products``), through ``shared.wiring``: every documented pair of a product this project runs
starts every function; a documented product this project does not run, and pairs the vendor does not offer, fail
every function's start with one message naming the product, the region and what would work."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

import pytest

from shared import products
from shared.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("initializer", "result_fetcher", "notifier", "sweeper")
_loaded = itertools.count()

DOCUMENTED = [(p.code, region) for p in products.PRODUCTS.values() for region in p.regions or ()]
SUPPORTED_PAIRS = [(code, region) for code, region in DOCUMENTED if products.PRODUCTS[code].supported]
UNSUPPORTED_PAIRS = [(code, region) for code, region in DOCUMENTED if not products.PRODUCTS[code].supported]
# (product, region, what the message must name besides both): pairs the vendor does not offer, an unknown region and
# an unknown product (whose code is not repeated).
IMPOSSIBLE = [
    ("eKYC", "ap-southeast-1", "cn-hongkong (China (Hong Kong))"),
    ("eKYC", "ap-southeast-3", "cn-hongkong (China (Hong Kong))"),
    ("FACE_LIVENESS_PRO", "ap-southeast-3", "ap-southeast-5 (Indonesia (Jakarta))"),
    ("eKYC_PRO", "cn-shanghai", "ap-southeast-3 (Malaysia (Kuala Lumpur))"),
]


def load(function: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"products_init_{function}_{next(_loaded)}",
                                                  ROOT / "functions" / function / "index.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The variables every function needs, with the vendor's own endpoint derived from CLOUDAUTH_REGION (nothing
    connects at initialize)."""
    for name in ("CLOUDAUTH_ENDPOINT", "CLOUDAUTH_USE_VPC_ENDPOINT", "KYC_WEBHOOKS", "ALIBABA_CLOUD_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "KYC_BACKEND": "local", "KYC_DATA_DIR": str(tmp_path),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-products", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "products-secret-1",
        "KYC_PUBLIC_URL": "https://kyc.example.com", "KYC_JWT_SECRET": "j" * 48, "KYC_USER_ID_PEPPER": "p" * 32,
        "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def start(deployment: pytest.MonkeyPatch, function: str, product: str, region: str) -> None:
    deployment.setenv("CLOUDAUTH_PRODUCT_CODE", product)
    deployment.setenv("CLOUDAUTH_REGION", region)
    load(function).initialize(None)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(("product", "region"), SUPPORTED_PAIRS)
def test_every_documented_pair_of_a_supported_product_starts(
    deployment: pytest.MonkeyPatch, function: str, product: str, region: str
) -> None:
    start(deployment, function, product, region)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(("product", "region"), UNSUPPORTED_PAIRS)
def test_a_documented_product_this_project_does_not_run_fails_the_start(
    deployment: pytest.MonkeyPatch, function: str, product: str, region: str
) -> None:
    with pytest.raises(ConfigError) as info:
        start(deployment, function, product, region)
    assert info.value.variable == "CLOUDAUTH_PRODUCT_CODE"
    assert f"{product} is documented by the vendor but not supported by this project" in str(info.value)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(("product", "region", "works_in"), IMPOSSIBLE)
def test_a_pair_the_vendor_does_not_offer_fails_the_start_naming_both(
    deployment: pytest.MonkeyPatch, function: str, product: str, region: str, works_in: str
) -> None:
    with pytest.raises(ConfigError) as info:
        start(deployment, function, product, region)
    message = str(info.value)
    assert info.value.variable == "CLOUDAUTH_PRODUCT_CODE"
    assert product in message and region in message and works_in in message


@pytest.mark.parametrize("function", FUNCTIONS)
def test_an_unknown_product_fails_the_start_without_repeating_it(deployment: pytest.MonkeyPatch, function: str) -> None:
    with pytest.raises(ConfigError) as info:
        start(deployment, function, "NOT_A_PRODUCT", "cn-hongkong")
    assert "NOT_A_PRODUCT" not in str(info.value) and "not one the vendor documents" in str(info.value)
