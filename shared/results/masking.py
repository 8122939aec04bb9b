"""Masking of identity data for logs and non-PII consumers.

Rules (:func:`mask_identity`):

* ``documentNumber`` → first and last character with ``*`` between (``H1234562`` → ``H******2``); values of four
  characters or fewer are fully starred (showing two of them would reveal half);
* names (``fullName``, ``givenName``, ``surname``, ``nativeName``) → first character + ``*``
  (``Chan Tai Man`` → ``C*``);
* ``birthDate`` → year only (``1990-**-**``); an unparsed birth date → ``***``;
* ``address`` → ``***``;
* kept: ``issueDate``, ``expiryDate``, ``sex``, ``nationality``, ``placeOfIssue``, ``issuingAuthority``, ``docType``,
  ``unparsedDates``. ``None`` stays ``None``. Given a mapping, keys that are not identity fields are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.results.identity import Identity

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

_NAME_FIELDS = ("fullName", "givenName", "surname", "nativeName")
_STARRED = "***"
_IDENTITY_KEYS = tuple(Identity().to_dict())


def mask_value(text: str | None, *, keep: int = 1) -> str | None:
    """Generic masking: the first and last ``keep`` characters with ``*`` between; short values fully starred.

    A value is fully starred when showing ``2 * keep`` characters would reveal half of it or more.
    """
    if text is None:
        return None
    n = len(text)
    if n == 0:
        return ""
    if n <= 4 * keep:
        return "*" * n
    return text[:keep] + "*" * (n - 2 * keep) + text[n - keep :]


def mask_name(text: str | None) -> str | None:
    """First character + ``*``; a name of one character is all stars (its first character is all of it: review vv,
    a one-character surname or given name, common in Chinese names, was shown whole)."""
    if not text:
        return text
    name = text.strip()
    return name[:1] + "*" if len(name) > 1 else "*"


def mask_birth_date(text: str | None) -> str | None:
    """``YYYY-MM-DD`` → ``YYYY-**-**``; anything else → ``***``."""
    if text is None:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text[:4].isdigit():
        return text[:4] + "-**-**"
    return _STARRED


def mask_identity(identity: Identity | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A masked camelCase copy of an :class:`Identity` (or of its ``to_dict()``), safe for logs."""
    if identity is None:
        return None
    if isinstance(identity, Identity):
        data = identity.to_dict()
    else:  # allow-list: keys that are not identity fields (raw OCR, anything unknown) are dropped, not leaked
        data = {key: identity.get(key) for key in _IDENTITY_KEYS}
        if isinstance(data["unparsedDates"], (list, tuple)):
            data["unparsedDates"] = list(data["unparsedDates"])
        else:
            data["unparsedDates"] = []
    for key in _NAME_FIELDS:
        if key in data:
            value = data[key]
            data[key] = mask_name(value) if isinstance(value, str) else None
    if "documentNumber" in data:
        value = data["documentNumber"]
        data["documentNumber"] = mask_value(value) if isinstance(value, str) else None
    if "birthDate" in data:
        value = data["birthDate"]
        data["birthDate"] = mask_birth_date(value) if isinstance(value, str) else None
    if data.get("address") is not None:
        data["address"] = _STARRED
    return data
