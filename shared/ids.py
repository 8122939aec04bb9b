"""What a valid merchantBizId and TransactionId are: the one definition, used wherever an id enters.

* **MerchantBizId** — the vendor's rule, from the API metadata of ``Initialize``/``CheckResult`` (cloudauth-intl
  2022-08-09, parameter ``MerchantBizId``: "a combination of letters and numbers, with a maximum length of 32
  characters"): 1-32 ASCII letters or digits. Ours are 32 hex digits (:func:`new_merchant_biz_id`); rate-limit slots are
  ``"rl"`` + 30 hex digits (see :mod:`shared.ratelimit`), valid ids that can never be one of ours. The same rule
  guards every door: the API path, the callback, queue messages, storage keys, the CLI.
* **TransactionId** — the vendor states no format (API metadata: a string, examples of 32 hex digits).
  *Unverified*: we accept 1-128 printable ASCII characters without spaces, a bound that keeps any id the vendor
  is likely to issue and keeps logs, keys and query strings safe.

* **Idempotency-Key** (``POST /verifications``'s header; IETF draft "The Idempotency-Key HTTP Header Field", which
  writes it as a quoted string): 1-128 ASCII letters, digits or ``-_.:~+/=``, bare or in double quotes. A
  keyed start's merchantBizId is derived from its owner, its key and the UTC day it starts in, keyed by the
  user-id pepper (:func:`merchant_biz_id_for_key`): a repeat that day or the next finds the first one's row. The
  key's claim (:func:`idempotency_claim_key`) outlives that day, so a key sent again later starts a verification
  under an id no earlier one had (:mod:`shared.verifications`).

* **Kept results** (the object store): ``results/<merchantBizId>/<answer digest>/result.json`` and the answer's
  images beside it (:func:`answer_prefix`, :func:`is_result_document_key`).

``str.isalnum`` alone is not the rule: it accepts non-ASCII letters and digits (``"é"``, ``"٣"``).
"""

from __future__ import annotations

import hashlib
import hmac
import os

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import TypeGuard

MERCHANT_BIZ_ID_MAX_LENGTH = 32
MERCHANT_BIZ_ID_RULE = "1-32 letters or digits"
#: Unverified (the vendor documents no format): see the module docstring.
TRANSACTION_ID_MAX_LENGTH = 128
TRANSACTION_ID_RULE = "1-128 printable characters without spaces"
IDEMPOTENCY_KEY_MAX_LENGTH = 128
IDEMPOTENCY_WINDOW_SECONDS = 86400  # a keyed id's window: a UTC day
#: How far apart two instances' clocks may be: this close to the next day, its id is looked up too.
IDEMPOTENCY_CLOCK_SKEW_SECONDS = 300
IDEMPOTENCY_KEY_RULE = "1-128 letters, digits or -_.:~+/= (bare or in double quotes)"
_IDEMPOTENCY_KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:~+/=")


def idempotency_key(header: str) -> str | None:
    """The key an ``Idempotency-Key`` header carries (quotes taken off), or None when it breaks the rule."""
    key = header[1:-1] if len(header) >= 2 and header[0] == header[-1] == '"' else header
    if 0 < len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH and _IDEMPOTENCY_KEY_CHARACTERS.issuperset(key):
        return key
    return None


def merchant_biz_id_for_key(owner: str, key: str, window: int, secret: str) -> str:
    """The merchantBizId of ``owner``'s start keyed ``key`` in ``window`` (the number of the UTC day,
    ``IDEMPOTENCY_WINDOW_SECONDS``): 32 hex digits of HMAC-SHA256 over the three, as a new one has (another user's
    same key is another id). Keyed by ``secret`` (the user-id pepper) because the owner's hash is no secret (the
    vendor and every webhook subscriber get it with the id): a plain hash would let them test guesses of the key
    offline, and a key may embed the merchant's user id (review y)."""
    return _keyed_hex(secret, f"merchantBizId\n{owner}\n{key}\n{window}")[:32]


def idempotency_claim_key(owner: str, key: str, secret: str) -> str:
    """The rate table's claim that ``owner``'s starts keyed ``key`` take before they call the vendor: ``"ik"``
    and 30 hex digits of HMAC-SHA256 keyed by ``secret``, as :func:`merchant_biz_id_for_key` (rate-limit counters
    are ``"rl"``..., :mod:`shared.ratelimit`)."""
    return "ik" + _keyed_hex(secret, f"claim\n{owner}\n{key}")[:30]


def _keyed_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_merchant_biz_id() -> str:
    """A fresh merchantBizId: 128 random bits as 32 hex digits (``os.urandom``, as ``secrets.token_hex`` draws them:
    not ``uuid4``, whose import pulls ``platform`` and ``subprocess`` into every cold start, nor ``secrets``, a module
    for one call)."""
    return os.urandom(16).hex()


def is_merchant_biz_id(value: object) -> TypeGuard[str]:
    """1-32 ASCII letters or digits (the vendor's MerchantBizId rule)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MERCHANT_BIZ_ID_MAX_LENGTH
        and value.isascii()
        and value.isalnum()
    )


def validate_merchant_biz_id(value: object) -> str:
    """``value`` when it is a valid merchantBizId; ``ValueError`` (naming the rule, never the value) otherwise."""
    if not is_merchant_biz_id(value):
        raise ValueError(f"merchant_biz_id must be {MERCHANT_BIZ_ID_RULE}")
    return value


def is_transaction_id(value: object) -> TypeGuard[str]:
    """1-128 printable ASCII characters, no spaces (unverified bound: see the module docstring)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= TRANSACTION_ID_MAX_LENGTH
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


# -- where a verification's results are kept (the object store) -----------------------------------------------------

#: The document of one kept answer: ``results/<merchantBizId>/<answer digest>/result.json``, its images beside it.
RESULT_DOCUMENT = "result.json"


def result_prefix(merchant_biz_id: str) -> str:
    """Where everything kept of one verification is: each answer of the vendor under a folder of its own."""
    return f"results/{merchant_biz_id}/"


def answer_prefix(merchant_biz_id: str, digest: str) -> str:
    """Where the objects of one answer of the vendor are kept: its ``result.json`` and its images."""
    return f"{result_prefix(merchant_biz_id)}{digest}/"


def is_result_document_key(merchant_biz_id: str, key: str) -> bool:
    """Whether ``key`` is where the document of one of this verification's answers is kept (nowhere else: not
    another verification's, not an image); ``results/<id>/result.json`` too, where releases before answers had
    folders of their own kept it."""
    prefix = result_prefix(merchant_biz_id)
    if not key.startswith(prefix):
        return False
    folder, _, name = key[len(prefix):].partition("/")
    if not name:  # results/<id>/result.json, the earlier layout
        return folder == RESULT_DOCUMENT
    return bool(folder) and name == RESULT_DOCUMENT
