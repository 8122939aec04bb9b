"""``CloudAuthSettings``: what the cloudauth-intl client needs, read from ``CLOUDAUTH_*`` and the credentials.

``VendorTarget`` is its credential-free part (endpoint, region, product), checked against the vendor's facts: every
function checks it at instance start (``shared.wiring``), ``./scripts/kyc doctor`` reports it. The access key secret
and the STS token are registered with the log scrubber as they are read.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from shared import products
from shared.config import (
    ConfigError,
    Env,
    env_bool,
    env_credential,
    env_float,
    env_int,
    env_list,
    env_required_credential,
    env_str,
)
from shared.log import register_secret
from shared.values import field, valueclass

CLOUDAUTH_DEFAULT_REGION = "cn-hongkong"


def _cloudauth_endpoint(env: Env) -> tuple[str, str]:
    """``(endpoint, region)``: ``CLOUDAUTH_ENDPOINT`` (a base URL, e.g. a local sandbox), else the endpoint of
    ``CLOUDAUTH_REGION``: the public one, or the VPC one with ``CLOUDAUTH_USE_VPC_ENDPOINT=Y`` (the vendor
    recommends it for servers in a VPC of the same region; hosts from :mod:`shared.products`). Never both an
    endpoint and the VPC switch. The region of a vendor endpoint is read from its host name (a ``CLOUDAUTH_REGION``
    that says otherwise is an error); for any other endpoint it is ``CLOUDAUTH_REGION``, the region the stand-in
    plays."""
    region = env_str(env, "CLOUDAUTH_REGION")
    if region is not None and (not region.replace("-", "").isalnum() or not region.isascii()):
        raise ConfigError("CLOUDAUTH_REGION", "must look like a region id such as cn-hongkong")
    raw = env_str(env, "CLOUDAUTH_ENDPOINT")
    use_vpc = env_bool(env, "CLOUDAUTH_USE_VPC_ENDPOINT", False)
    if raw is None:
        region = region or CLOUDAUTH_DEFAULT_REGION
        host = products.vpc_endpoint(region) if use_vpc else products.public_endpoint(region)
        return f"https://{host}", region
    if use_vpc:
        raise ConfigError(
            "CLOUDAUTH_USE_VPC_ENDPOINT",
            "cannot be combined with CLOUDAUTH_ENDPOINT: unset one of them (the VPC endpoint is derived from "
            "CLOUDAUTH_REGION)",
        )
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise ConfigError("CLOUDAUTH_ENDPOINT", "must be an http(s) URL such as https://host[:port]") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError("CLOUDAUTH_ENDPOINT", "must be an http(s) URL such as https://host[:port]")
    if parts.username is not None or parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ConfigError("CLOUDAUTH_ENDPOINT", "must be a base URL without credentials, path or query")
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:  # IPv6 literal
        netloc = f"[{parts.hostname}]" if port is None else f"[{parts.hostname}]:{port}"
    host_region = products.region_of_endpoint(parts.hostname)
    if host_region is not None and region is not None and region != host_region:
        raise ConfigError("CLOUDAUTH_REGION", "names another region than the vendor host of CLOUDAUTH_ENDPOINT")
    return f"{parts.scheme}://{netloc}", host_region or region or CLOUDAUTH_DEFAULT_REGION


def _check_product_region(variable: str, product_code: str, region: str) -> None:
    """A configured product must exist, be supported here and be offered in the configured region (vendor facts:
    :mod:`shared.products`), so that an impossible pair fails the instance at start, not every start request.
    Product codes and region ids are not secrets: the message names them, and the regions that would work."""
    try:
        products.check_product(product_code, region)
    except products.ProductError as exc:
        raise ConfigError(variable, f"(with CLOUDAUTH_REGION {region}): {exc}") from None


def _listed_products(env: Env, default_product: str) -> tuple[str, ...]:
    """``CLOUDAUTH_PRODUCTS`` in listed order without duplicates (unset: the default product alone), unchecked."""
    listed = env_list(env, "CLOUDAUTH_PRODUCTS")
    return tuple(dict.fromkeys(listed)) if listed else (default_product,)


def _allowed_products(env: Env, default_product: str, region: str) -> tuple[str, ...]:
    """``CLOUDAUTH_PRODUCTS``: the products a request may name (unset: the default product alone). Each is checked
    against the region; the default product must be one of them (a request that names none gets it)."""
    if not env_list(env, "CLOUDAUTH_PRODUCTS"):
        return (default_product,)
    allowed = _listed_products(env, default_product)
    for code in allowed:
        _check_product_region("CLOUDAUTH_PRODUCTS", code, region)
    if default_product not in allowed:
        raise ConfigError(
            "CLOUDAUTH_PRODUCTS",
            f"must include the default product {default_product} (CLOUDAUTH_PRODUCT_CODE), or set "
            "CLOUDAUTH_PRODUCT_CODE to one of the listed products",
        )
    return allowed


@valueclass
class VendorTarget:
    """Where and what the deployment asks of the vendor: base URL, the region it serves, the product, and whether
    the endpoint is the region's VPC one. No credentials: every function can check it, whether it calls the vendor
    or not."""

    endpoint: str
    region: str
    product_code: str
    products: tuple[str, ...]  # the products a request may name (CLOUDAUTH_PRODUCTS), the default among them
    use_vpc_endpoint: bool = False

    @classmethod
    def from_env(cls, env: Env | None = None, *, check_product: bool = True) -> VendorTarget:
        """``CLOUDAUTH_PRODUCT_CODE``, ``CLOUDAUTH_PRODUCTS``, ``CLOUDAUTH_REGION``, ``CLOUDAUTH_ENDPOINT``,
        ``CLOUDAUTH_USE_VPC_ENDPOINT``, checked against the vendor's facts (:mod:`shared.products`); ``ConfigError``
        naming the variable. ``check_product=False`` leaves the product/region checks to the caller (``kyc doctor``
        reports each product itself)."""
        env = os.environ if env is None else env
        product_code = env_str(env, "CLOUDAUTH_PRODUCT_CODE", "eKYC") or "eKYC"
        if not product_code.replace("_", "").isalnum() or not product_code.isascii():
            raise ConfigError("CLOUDAUTH_PRODUCT_CODE", "must contain only letters, digits and _")
        endpoint, region = _cloudauth_endpoint(env)
        if check_product:
            _check_product_region("CLOUDAUTH_PRODUCT_CODE", product_code, region)
            allowed = _allowed_products(env, product_code, region)
        else:
            allowed = _listed_products(env, product_code)
        return cls(endpoint=endpoint, region=region, product_code=product_code, products=allowed,
                   use_vpc_endpoint=env_bool(env, "CLOUDAUTH_USE_VPC_ENDPOINT", False))


@valueclass
class CloudAuthSettings:
    """Everything :class:`shared.cloudauth.CloudAuthClient` needs. Secrets are kept out of ``repr``."""

    endpoint: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_attempts: int = 3
    call_deadline: float = 25.0  # one call, every attempt and backoff included (in the functions' time budgets)
    signature_version: str = "v3"  # "v3" (ACS3-HMAC-SHA256) or "v1" (RPC HMAC-SHA1)
    product_code: str = "eKYC"  # the product of a request that names none
    products: tuple[str, ...] = ()  # the products a request may name (CLOUDAUTH_PRODUCTS); (): product_code alone
    allow_undocumented_doc_types: bool = False
    region: str = CLOUDAUTH_DEFAULT_REGION  # the vendor region the endpoint serves (products and doc types vary)
    backoff_base: float = 0.2
    backoff_cap: float = 2.0

    def __post_init__(self) -> None:
        if self.signature_version not in {"v1", "v3"}:
            raise ConfigError("CLOUDAUTH_SIGNATURE", "must be v3 or v1")

    @property
    def allowed_products(self) -> tuple[str, ...]:
        """The products a start request may name, the default product among them."""
        return self.products or (self.product_code,)

    @classmethod
    def from_env(cls, env: Env | None = None) -> CloudAuthSettings:
        env = os.environ if env is None else env
        signature = (env_str(env, "CLOUDAUTH_SIGNATURE", "v3") or "v3").lower()
        if signature not in {"v1", "v3"}:
            raise ConfigError("CLOUDAUTH_SIGNATURE", "must be v3 or v1")
        target = VendorTarget.from_env(env)
        return cls(
            endpoint=target.endpoint,
            region=target.region,
            access_key_id=env_required_credential(env, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
            access_key_secret=register_secret(env_required_credential(env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")),
            security_token=register_secret(env_credential(env, "ALIBABA_CLOUD_SECURITY_TOKEN")),
            connect_timeout=_positive_float(env, "CLOUDAUTH_CONNECT_TIMEOUT", 5.0),
            read_timeout=_positive_float(env, "CLOUDAUTH_READ_TIMEOUT", 10.0),
            max_attempts=env_int(env, "CLOUDAUTH_MAX_ATTEMPTS", 3, minimum=1, maximum=10),
            call_deadline=_positive_float(env, "CLOUDAUTH_CALL_DEADLINE", 25.0),
            signature_version=signature,
            product_code=target.product_code,
            products=target.products,
            allow_undocumented_doc_types=env_bool(env, "CLOUDAUTH_ALLOW_UNDOCUMENTED_DOC_TYPES", False),
            backoff_base=env_float(env, "CLOUDAUTH_BACKOFF_BASE", 0.2),
            backoff_cap=env_float(env, "CLOUDAUTH_BACKOFF_CAP", 2.0),
        )


def _positive_float(env: Env, name: str, default: float) -> float:
    value = env_float(env, name, default)
    if value <= 0:  # (env_float refuses NaN and infinities)
        raise ConfigError(name, "must be a positive number of seconds")
    return value
