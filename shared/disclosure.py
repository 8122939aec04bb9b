"""What a consumer of a verification is shown of the person: one policy for webhooks and for the API.

A verification's outcome — ``merchantBizId``, ``transactionId``, ``status``, ``passed``, ``subCode``, ``docType`` —
is what a merchant needs to route a result, and it is always shown. The identity read from the document is not:
by default a consumer sees ``identity: null``. A consumer that needs more names the identity fields it wants
(:data:`IDENTITY_FIELDS`), and sees them

* masked (the row's masked identity, :func:`shared.results.mask_identity`: names as an initial, the document
  number's first and last character, the birth year), or
* in clear, only for a webhook subscriber with ``includePii: true`` (the whole stored result is read for it).

Configured as ``fields: [...]`` per subscriber in ``KYC_WEBHOOKS`` (default: none; every field for
``includePii: true``) and ``KYC_API_IDENTITY_FIELDS`` for ``GET /verifications/{id}`` (default: none).

Kept apart from :mod:`shared.results` so that the initializer and the notifier, which only select fields from what
is stored, do not load the result parser at cold start.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Mapping

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    class _DisclosureFields(NamedTuple):
        fields: frozenset[str] = frozenset()
        clear: bool = False

else:  # the same tuple, from collections (typing.NamedTuple builds it with it too)
    _DisclosureFields = namedtuple("_DisclosureFields", ("fields", "clear"), defaults=(frozenset(), False))

#: The identity fields a consumer may select: the keys of ``shared.results.Identity.to_dict()`` in their order
#: (tests/test_results_masking.py checks the two agree).
IDENTITY_FIELDS: tuple[str, ...] = (
    "fullName", "givenName", "surname", "nativeName", "documentNumber", "birthDate", "sex", "nationality",
    "issueDate", "expiryDate", "address", "placeOfIssue", "issuingAuthority", "docType", "unparsedDates",
)  # fmt: skip


class UnknownField(ValueError):
    """A configured field is not one of :data:`IDENTITY_FIELDS` (the message lists the known ones)."""


def identity_fields(names: Iterable[Any]) -> frozenset[str]:
    """The set of ``names``, each an identity field; :class:`UnknownField` otherwise."""
    chosen = list(names)
    if not all(isinstance(name, str) and name in IDENTITY_FIELDS for name in chosen):
        raise UnknownField(f"identity fields are: {', '.join(IDENTITY_FIELDS)}")
    return frozenset(chosen)


class Disclosure(_DisclosureFields):
    """The identity fields a consumer sees (``fields``) and whether it sees them in clear (``clear``)."""

    __slots__ = ()

    def identity(
        self, masked: Mapping[str, Any] | None, full: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The selected fields of ``full`` (when ``clear``) or of ``masked``, in :data:`IDENTITY_FIELDS` order;
        None when nothing is selected or there is no identity (a face-only product, an erased result)."""
        source = full if self.clear else masked
        if not self.fields or not isinstance(source, Mapping):
            return None
        return {name: source.get(name) for name in IDENTITY_FIELDS if name in self.fields}


#: The default: the outcome only.
MINIMAL = Disclosure()
#: ``includePii: true`` without ``fields``: the whole identity in clear.
EVERYTHING = Disclosure(frozenset(IDENTITY_FIELDS), clear=True)
