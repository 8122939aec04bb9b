"""RPC HMAC-SHA1 (``SignatureVersion=1.0``, the project's "V1") request verification: the one home for the local
servers that check Alibaba Cloud's RPC signature (the sandbox's cloudauth-intl, :mod:`tools.sandbox.auth`).

Written from the vendor's page ("Request syntax and signature method V2 for RPC APIs", Alibaba Cloud SDK
documentation, last updated Dec 08, 2025 — the vendor numbers the RPC signature scheme V2; its ``SignatureVersion``
is ``1.0``), not from :mod:`shared.signing`: the server is a double, and a double that reused the client's signer
would accept whatever that signer gets wrong. ``tests/test_rpc_v1.py`` checks it against the published vector and
against the official SDK's signer (``aliyunsdkcore.auth.composer.rpc_signature_composer``) on generated requests::

    CanonicalizedQueryString = percentEncode(name) "=" percentEncode(value) for every parameter but Signature,
                               sorted by name, joined by "&"
    StringToSign             = HTTPMethod "&" percentEncode("/") "&" percentEncode(CanonicalizedQueryString)
    Signature                = base64(hmac_sha1(AccessKeySecret + "&", StringToSign)), sent as a parameter

percentEncode (the page's rule): ``A-Z a-z 0-9 - _ . ~`` stay; every other character is its UTF-8 bytes as ``%XY``
(upper-case hex), so a space is ``%20`` (never ``+``), ``*`` is ``%2A``, ``~`` stays ``~``.

Which parameters are signed: the page speaks of the request's parameters (for GET, those after ``?``) and is silent
on a POST's form body. Both official SDKs sign the form body's parameters with the query's
(``aliyunsdkcore``'s ``get_signed_url``: ``sign_params.update(body_params)``; ``alibabacloud_tea_openapi``'s
``do_rpcrequest``: ``merge(query, Utils.query(body))``), a body value winning over a query value of the same name:
:func:`signed_parameters` does the same. That the gateway refuses a body parameter left out of the signature is
unverified.

Each check is a step that raises :class:`Refused` naming a :class:`Problem`; a server calls the steps in its own
order, with its own other rules (access key, timestamp, nonce) in between, and turns each problem into its own error
code and message. Nothing here is retried or remembered.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import string
from collections.abc import Mapping

SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"
#: The parameter carrying the signature: sent, never signed.
SIGNATURE = "Signature"

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-_.~")


class Problem(enum.Enum):
    """Why a request is refused; :attr:`Refused.detail` says more where noted."""

    OTHER_METHOD = "SignatureMethod is absent or not HMAC-SHA1"
    OTHER_VERSION = "SignatureVersion is not 1.0"
    INCOMPLETE = "the Signature parameter is empty"
    SIGNATURE = "the signature is not the one the secret gives"  # detail: the server's string to sign


class Refused(Exception):
    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.detail = detail


def percent_encode(text: str) -> str:
    """The page's percentEncode: unreserved characters stay, every other UTF-8 byte is ``%XY``."""
    return "".join(chr(byte) if chr(byte) in _UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8"))


def signed_parameters(query: Mapping[str, str], form: Mapping[str, str]) -> dict[str, str]:
    """The parameters the signature covers (decoded): the query's and the form body's, as the official SDKs sign
    them (the page is silent on the body; see the module's docstring)."""
    return {**query, **form}


def canonicalized_query_string(params: Mapping[str, str]) -> str:
    """``params``: decoded names and values; ``Signature`` is left out. Sorted by the (decoded) name, as the page
    sorts before it encodes."""
    pairs = sorted((name, value) for name, value in params.items() if name != SIGNATURE)
    return "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in pairs)


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonicalized_query_string(params))}"


def signature(secret: str, to_sign: str) -> str:
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check_signature_fields(params: Mapping[str, str]) -> None:
    """``SignatureMethod`` is HMAC-SHA1 (``OTHER_METHOD``), ``SignatureVersion`` 1.0 when sent (``OTHER_VERSION``;
    the page lists it among the common parameters, the sandbox has always let it be left out: what the gateway does
    then is unverified), and ``Signature`` has a value (``INCOMPLETE``)."""
    if params.get("SignatureMethod") != SIGNATURE_METHOD:
        raise Refused(Problem.OTHER_METHOD)
    if params.get("SignatureVersion", SIGNATURE_VERSION) != SIGNATURE_VERSION:
        raise Refused(Problem.OTHER_VERSION)
    if not params.get(SIGNATURE):
        raise Refused(Problem.INCOMPLETE)


def check_signature(secret: str, method: str, params: Mapping[str, str]) -> None:
    """``params[Signature]`` is the one ``secret`` gives over the others (``SIGNATURE``, its detail the server's
    string to sign, which the gateway echoes). ``params``: :func:`signed_parameters`, holding ``Signature``."""
    to_sign = string_to_sign(method, params)
    if not hmac.compare_digest(signature(secret, to_sign).encode(), params.get(SIGNATURE, "").encode()):
        raise Refused(Problem.SIGNATURE, to_sign)
