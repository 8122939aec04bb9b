"""The vendor's callback: the URL we give it, the token that authenticates it, and the check of that token.

At Initialize (:mod:`shared.verifications`) each verification gets a fresh random token; the vendor receives it
(``CallbackToken``) and appends it to the callback (``callbackToken``), and only its SHA-256 is stored. The callback
carries no signature (the vendor documents none): the token is its only authenticity signal, compared in constant
time, and the callback is only a trigger anyway (the result always comes from CheckResult).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from urllib.parse import parse_qsl, quote

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from collections.abc import Mapping

CALLBACK_PATH = "/callback"
#: The callback URL given to the vendor: the id in the path, no query of ours (see :func:`callback_url`).
CALLBACK_ROUTE = "/callback/{merchant_biz_id}"
TOKEN_BYTES = 32  # 43 URL-safe characters
#: The parameters the vendor adds to the callback URL, as Initialize's CallbackUrl example spells them
#: ("https://www.aliyun.com?callbackToken=1000004826&transactionId=shaxxxx&passed=Y&subCode=200", the API metadata
#: of cloudauth-intl 2022-08-09). The same metadata's CallbackToken text says "the CallbackToken field will be
#: displayed in the callback address": the casing the vendor sends is unverified, so :func:`callback_parameters`
#: also takes each under another casing when the example's is absent.
TOKEN_PARAMETER = "callbackToken"  # noqa: S105 - a parameter name, not a secret
TRANSACTION_PARAMETER = "transactionId"
VENDOR_PARAMETERS = (TOKEN_PARAMETER, TRANSACTION_PARAMETER, "passed", "subCode")


def callback_url(public_url: str, merchant_biz_id: str) -> str:
    """``<public_url>/callback/<id>``. The vendor adds ``callbackToken``, ``transactionId``, ``passed`` and
    ``subCode`` to it ("Initialize", CallbackUrl: "the platform will call back this URL and automatically add the
    transactionId, passed, and subcode fields"; its example adds them after a ``?`` to a URL without a query).
    How it joins them to a URL that has a query of its own is not documented (unverified): so ours has none.
    Verifications started before this form carry ``/callback?merchantBizId=<id>``: :func:`callback_parameters`."""
    return f"{public_url.rstrip('/')}{CALLBACK_PATH}/{quote(merchant_biz_id, safe='')}"


def callback_parameters(query: Mapping[str, str], path_id: str | None) -> dict[str, str]:
    """The callback's parameters (``merchantBizId``, ``callbackToken``, ``transactionId``...), from the id in the
    path (``path_id``) or, for a URL of the earlier form, in ``merchantBizId``. Should the vendor have glued its
    parameters on with a ``?`` after our query (or a ``&`` after our path), the id ends at that character and what
    follows it is read as more of the query; a parameter the real query has wins. A vendor parameter
    (``VENDOR_PARAMETERS``) absent under its documented name is taken from the first one named the same in another
    casing (``CallbackToken``): a token is still checked against its hash, whatever it was called."""
    params = dict(query)
    claimed = path_id if path_id is not None else params.pop("merchantBizId", "")
    claimed, glued = split_glued(claimed)
    for key, value in parse_qsl(glued, keep_blank_values=True):
        params.setdefault(key, value)
    params["merchantBizId"] = claimed
    for name in VENDOR_PARAMETERS:
        if name not in params:
            other = next((key for key in params if key.lower() == name.lower()), None)
            if other is not None:
                params[name] = params[other]
    return params


def split_glued(text: str) -> tuple[str, str]:
    """``text`` up to the first ``?`` or ``&`` the vendor may have glued its parameters on with, and what follows
    it (``""`` when there is none)."""
    ends = [i for i in (text.find("?"), text.find("&")) if i >= 0]
    if not ends:
        return text, ""
    return text[: min(ends)], text[min(ends) + 1 :]


def new_callback_token() -> str:
    """``secrets.token_urlsafe(TOKEN_BYTES)``, as that module spells it (``secrets``: a module for one call)."""
    return base64.urlsafe_b64encode(os.urandom(TOKEN_BYTES)).rstrip(b"=").decode("ascii")


def hash_callback_token(token: str) -> str:
    """What the row stores instead of the token (hex SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def callback_token_matches(token: str, stored_hash: str | None) -> bool:
    """Whether ``token`` is the one whose hash was stored; constant time, False when nothing was stored."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_callback_token(token), stored_hash)


def same_transaction(claimed: str, stored: str) -> bool:
    """Whether the callback's ``transactionId`` names the stored one (constant time)."""
    return hmac.compare_digest(claimed.encode(), stored.encode())
