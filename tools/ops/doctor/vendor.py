"""Checks of what the deployment asks of ID Verification: product and region, the functions' region, the endpoint
(name, TCP, TLS), and whether the vendor accepts the credentials.

The credentials probe is one ``CheckResult`` (never retried) on a transaction id that cannot exist: no verification
starts and nothing is created (unverified: whether the vendor bills or meters a refused CheckResult; Initialize is
the billed operation). An answer about the transaction (``TransactionIdInvalid``, ``InvalidParameter``,
``MissingParameter``, ``ProcessNotCompleted``) means the gateway authenticated and authorised the call; an answer
about the caller names what to fix (:data:`CREDENTIAL_FIXES`). The vendor's own message is not printed (gateway
messages can quote the request); its code and request id are.

Error codes: ``Forbidden.RAMUserAccessDenied`` and ``Forbidden.AccountAccessDenied`` with their causes are the
vendor's ("ID Verification:服务端返回HTTP状态码说明", help/zh/ekyc/latest/http-status-code-returned-by-the-server,
Jun 23, 2026); the others are the Alibaba Cloud API gateway's common codes, as ``shared.cloudauth.errors`` maps them.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from shared import products, values
from shared.cloudauth import (
    AuthError,
    CloudAuthClient,
    CloudAuthError,
    CloudAuthSettings,
    ParameterError,
    ProcessNotCompleted,
    ThrottlingError,
    TransactionIdInvalid,
    TransportError,
    VendorTarget,
)
from shared.config import ConfigError, is_aliyun_backend
from shared.delivery import TargetPolicy, resolve_target
from shared.http_deadline import Deadline
from shared.urls import display_url

from .report import Finding, Options, connection_refused, ok, problem, skipped

#: Ids no verification can have: 32 letters/digits (a valid MerchantBizId) and a TransactionId the vendor never
#: issues (its ids are hex strings; "-" never appears in them).
PROBE_MERCHANT_BIZ_ID = "kycdoctorprobe" + "0" * 18
PROBE_TRANSACTION_ID = "kyc-doctor-no-such-transaction"

#: Vendor error code (exact, or a prefix ending in ".") → what to fix. First match wins.
CREDENTIAL_FIXES: tuple[tuple[str, str], ...] = (
    ("InvalidAccessKeyId.NotFound",
     "ALIBABA_CLOUD_ACCESS_KEY_ID is not an AccessKey Alibaba Cloud knows (deleted, mistyped, or of another "
     "account site): set the ID of an active key (RAM console → Users → AccessKey)"),
    ("InvalidAccessKeyId.Inactive", "the AccessKey is disabled: enable it in the RAM console, or use another key"),
    ("InvalidAccessKeyId.", "ALIBABA_CLOUD_ACCESS_KEY_ID is refused: set the ID of an active AccessKey"),
    ("SignatureDoesNotMatch",
     "ALIBABA_CLOUD_ACCESS_KEY_SECRET is not the secret of ALIBABA_CLOUD_ACCESS_KEY_ID: set the secret shown when "
     "the key was created, whole and without spaces (a lost secret cannot be shown again: create a new key)"),
    ("IncompleteSignature", "the gateway could not read the signature: check CLOUDAUTH_SIGNATURE (v3 or v1)"),
    ("InvalidSecurityToken.",
     "ALIBABA_CLOUD_SECURITY_TOKEN is expired, malformed or not the token of this STS key: get fresh STS "
     "credentials, or unset the token when using a permanent AccessKey"),
    ("MissingSecurityToken", "the AccessKey is an STS key: set ALIBABA_CLOUD_SECURITY_TOKEN with it"),
    ("InvalidTimeStamp.",
     "this machine's clock is too far from Alibaba Cloud's (signed requests carry the time): synchronise it (NTP)"),
    ("SignatureNonceUsed", "a request nonce was used twice: run the doctor again; if it repeats, report it"),
    ("Forbidden.RAMUserAccessDenied",
     f"this RAM identity may not call ID Verification: grant it {', '.join(products.RAM_ACTIONS)} (template.yml's "
     "role does), or attach the system policy AliyunAntCloudAuthFullAccess (docs/deploy.md, "
     "'Forbidden.RAMUserAccessDenied')"),
    ("Forbidden.AccountAccessDenied",
     "ID Verification is not activated for this account in {region}, or the account is in arrears: activate the "
     "product in the ID Verification console, or settle the account"),
    ("Forbidden.", "the vendor refused this account or identity: read the code in the vendor's error documentation"),
)


#: Gateway answers meaning the endpoint does not serve this API (version), whoever asks.
NOT_THIS_API = frozenset({"InvalidAction.NotFound", "InvalidVersion", "InvalidApi.NotFound"})


def credential_fix(code: str, region: str) -> str:
    for key, fix in CREDENTIAL_FIXES:
        if code == key or (key.endswith(".") and code.startswith(key)):
            return fix.format(region=region)
    return ("check ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and, with an STS key, "
            "ALIBABA_CLOUD_SECURITY_TOKEN")


def _target(env: Mapping[str, str]) -> VendorTarget | ConfigError:
    try:
        return VendorTarget.from_env(env, check_product=False)
    except ConfigError as exc:
        return exc


# --- product and region ------------------------------------------------------------------------------------


def check_products(env: Mapping[str, str]) -> list[Finding]:
    """Every configured product (``CLOUDAUTH_PRODUCTS``, else ``CLOUDAUTH_PRODUCT_CODE``) against the vendor's facts
    for the configured region (:mod:`shared.products`), one finding each."""
    target = _target(env)
    if isinstance(target, ConfigError):
        return [problem("product", str(target), f"fix {target.variable}")]
    variable = "CLOUDAUTH_PRODUCTS" if env.get("CLOUDAUTH_PRODUCTS", "").strip() else "CLOUDAUTH_PRODUCT_CODE"
    deployed = is_aliyun_backend(env)
    findings: list[Finding] = []
    for code in target.products:
        try:
            product = products.check_product(code, target.region)
        except products.ProductError as exc:
            findings.append(problem("product", f"{exc} ({variable}, CLOUDAUTH_REGION {target.region})",
                                    _product_fix(exc, target.region, variable, deployed=deployed)))
            continue
        findings.append(ok("product", f"{code} is offered in {products.describe_regions((target.region,))}, "
                                      f"started by {product.start_operation}"))
    return findings


def _product_fix(exc: products.ProductError, region: str, variable: str, *, deployed: bool) -> str:
    if exc.reason != "region":
        return f"name in {variable} only products this project runs: {', '.join(products.SUPPORTED)}"
    offered = ", ".join(products.PRODUCTS[exc.product].regions or ())
    here = [p.code for p in products.PRODUCTS.values() if p.supported and p.offered_in(region)]
    move = f"export CLOUDAUTH_REGION=<one of {offered}>"
    move += (" (and KYC_REGION with it, so the functions run next to the vendor) and s deploy" if deployed
             else " and start or restart ./scripts/dev")
    activate = "; activate the product for that region in the ID Verification console" if deployed else ""
    if here:
        return f"{move}, or name in {variable} a product offered in {region} ({', '.join(here)}){activate}"
    return f"{region} is not a region where the vendor offers a product this project runs: {move}{activate}"


def check_region(env: Mapping[str, str], fc_region: tuple[str, str] | None) -> Finding:
    """With the vendor's VPC endpoint the functions must run in the vendor's region (the endpoint answers only from
    a VPC of that region: "InitializeV2" eKYC-PRO, help/en/ekyc/latest/pro-init, endpoint table)."""
    name = "vendor.region"
    target = _target(env)
    if isinstance(target, ConfigError):
        return skipped(name, "the vendor target is not configured (see product)")
    if env.get("CLOUDAUTH_ENDPOINT", "").strip():
        return ok(name, f"CLOUDAUTH_ENDPOINT names the endpoint; the region it serves is {target.region}")
    if fc_region is None:
        if target.use_vpc_endpoint:
            return skipped(name, "the functions' region is not known here: export KYC_REGION, or use --from-s-yaml")
        return ok(name, f"the vendor is called in {target.region} over its public endpoint")
    region, source = fc_region
    if target.use_vpc_endpoint and region != target.region:
        return problem(
            name,
            f"CLOUDAUTH_USE_VPC_ENDPOINT=Y, but the functions run in {region} ({source}) and the vendor's VPC endpoint "
            f"answers only from a VPC in {target.region}",
            f"deploy the functions in {target.region} (export KYC_REGION={target.region}, a VPC and vSwitch there) "
            "or set CLOUDAUTH_USE_VPC_ENDPOINT=N",
        )
    if target.use_vpc_endpoint:
        return ok(name, f"the functions ({source}) and the vendor's VPC endpoint are both in {region}")
    if region != target.region:
        return ok(name, f"the functions run in {region} ({source}) and call the vendor in {target.region} over its "
                        "public endpoint (the same region would be faster)")
    return ok(name, f"the functions ({source}) and the vendor are both in {region}")


# --- endpoint ----------------------------------------------------------------------------------------------


def check_endpoint(env: Mapping[str, str], options: Options) -> Finding:
    """The endpoint's name resolves, it accepts a connection, and (https) completes a verified TLS handshake or
    (http, a local stand-in) answers an HTTP request — within one deadline."""
    name = "vendor.endpoint"
    target = _target(env)
    if isinstance(target, ConfigError):
        return skipped(name, "the vendor target is not configured (see product)")
    parts = urlsplit(target.endpoint)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    shown = display_url(target.endpoint)
    outside = (f"; the VPC endpoint answers only inside a VPC of {target.region}: run the doctor there, or check "
               "from here with CLOUDAUTH_USE_VPC_ENDPOINT=N") if target.use_vpc_endpoint else ""
    deadline = Deadline(options.timeout)
    try:
        address = resolve_target(host, port, TargetPolicy(allow_private=True), timeout=deadline.remaining())[0]
    except TimeoutError:
        return problem(name, f"looking up {host} took longer than {options.timeout:g} s",
                       "check this machine's DNS resolver" + outside)
    except OSError:
        return problem(name, f"{host} does not resolve",
                       "check CLOUDAUTH_REGION / CLOUDAUTH_ENDPOINT and this machine's DNS" + outside)
    reach_fix = "check the endpoint, and that this network may reach it (proxy, firewall)" + outside
    try:
        sock = socket.create_connection((address, port), timeout=deadline.remaining())
    except ConnectionRefusedError:
        return connection_refused(name, shown, host, options, reach_fix)
    except OSError as exc:
        return problem(name, f"{shown} does not accept connections ({type(exc).__name__})", reach_fix)
    with sock:
        try:
            sock.settimeout(deadline.remaining())
            if not https:
                return _answers_http(name, sock, host, shown)
            with options.tls_context().wrap_socket(sock, server_hostname=host) as tls:
                version = tls.version()
        except ssl.SSLCertVerificationError as exc:
            return problem(name, f"the TLS certificate of {host} does not verify ({exc.verify_message})",
                           "something between here and the vendor intercepts TLS, or this machine's CA store is "
                           "outdated; the functions verify certificates too")
        except (OSError, ssl.SSLError) as exc:
            return problem(name, f"TLS with {shown} failed ({type(exc).__name__})",
                           "check that the endpoint is the vendor's and that no proxy intercepts it")
    return ok(name, f"{host} resolves and answers TLS ({version}, certificate verified)")


def _answers_http(name: str, sock: socket.socket, host: str, shown: str) -> Finding:
    sock.sendall(f"HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii", "replace"))
    first = sock.recv(64)
    if not first.startswith(b"HTTP/"):
        return problem(name, f"{shown} accepts connections but does not answer HTTP",
                       "CLOUDAUTH_ENDPOINT must be the base URL of the vendor or of a stand-in (the sandbox)")
    return ok(name, f"{shown} answers HTTP (plain http: a local stand-in such as the sandbox, not the vendor)")


# --- credentials -------------------------------------------------------------------------------------------


def check_credentials(env: Mapping[str, str], options: Options, *, from_s_yaml: bool) -> Finding:
    name = "vendor.credentials"
    try:
        settings = CloudAuthSettings.from_env(env)
    except ConfigError as exc:
        return skipped(name, f"the client is not configured ({exc.variable}; see config)")
    probe = values.replace(
        settings,
        max_attempts=1,
        connect_timeout=min(settings.connect_timeout, options.timeout),
        read_timeout=min(settings.read_timeout, options.timeout),
    )
    whose = " (your exported key; the functions use their role)" if from_s_yaml else ""
    with CloudAuthClient(probe) as client:
        try:
            client.check_result(PROBE_MERCHANT_BIZ_ID, PROBE_TRANSACTION_ID)
        except (TransactionIdInvalid, ProcessNotCompleted, ParameterError) as exc:
            if exc.status is None:  # refused by our own validation: nothing reached the vendor
                return problem(name, f"the probe was refused before sending ({exc.code})", "report it")
            return ok(name, f"the vendor accepted the credentials{whose}: a CheckResult for a transaction that cannot "
                            f"exist answered {exc.code}{_request(exc)}")
        except AuthError as exc:
            return problem(name, f"the vendor refused the credentials{whose}: {exc.code}{_request(exc)}",
                           credential_fix(exc.code, settings.region))
        except ThrottlingError as exc:
            return problem(name, f"throttled ({exc.code}): the answer says nothing about the credentials",
                           "run the doctor again in a minute")
        except TransportError as exc:
            return problem(name, f"no answer from the vendor ({exc.message})", "see vendor.endpoint")
        except CloudAuthError as exc:
            status = f", HTTP {exc.status}" if exc.status is not None else ""
            fix = ("CLOUDAUTH_ENDPOINT does not serve cloudauth-intl 2022-08-09" if exc.code in NOT_THIS_API
                   else "run the doctor again; if it repeats, report the code")
            return problem(name, f"unexpected answer {exc.code}{status}{_request(exc)}", fix)
    return ok(name, f"the vendor accepted the credentials{whose} (a CheckResult of a transaction that cannot exist "
                    "answered Success)")


def _request(exc: CloudAuthError) -> str:
    return f" (RequestId {exc.request_id})" if exc.request_id else ""
