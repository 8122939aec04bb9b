"""The vendor's callback: the URL we give it, the token that authenticates it, and the check of that token.

At Initialize (:mod:`shared.verifications`) each verification gets a fresh random token; the vendor receives it
(``CallbackToken``) and appends it to the callback (``callbackToken``), and only its SHA-256 is stored. The callback
carries no signature (the vendor documents none): the token is its only authenticity signal, compared in constant
time, and the callback is only a trigger anyway (the result always comes from CheckResult).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

CALLBACK_PATH = "/callback"
TOKEN_BYTES = 32  # 43 URL-safe characters


def callback_url(public_url: str, merchant_biz_id: str) -> str:
    """``<public_url>/callback?merchantBizId=<id>``; the vendor appends ``transactionId``, ``passed``, ``subCode``
    and ``callbackToken``."""
    return f"{public_url.rstrip('/')}{CALLBACK_PATH}?merchantBizId={quote(merchant_biz_id)}"


def new_callback_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


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
