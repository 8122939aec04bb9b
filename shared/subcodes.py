"""The vendor's result sub codes (CheckResult ``Result.SubCode``, the callback's ``subCode``) and what they mean.

One table, used by the API's answers (``subCodeMessage``), the demo merchant page and the operator console.

Sources and how sure we are (``source`` of each row):

* ``200``: ID Verification's samples (the eKYC CheckResult page's field example and callback example, the DocOcr
  samples) show ``Passed: Y`` with ``SubCode: 200``; no page we could read states its meaning.
* ``205``: the FaceLiveness API's metadata sample (a server-side liveness API, not CheckResult) answers
  ``Passed: N``, ``SubCode: 205`` with ``FaceAttack: Y``, so 205 stands with a failed liveness (presentation-attack)
  check. Medium confidence: the EkycVerify sample shows 205 next to ``Passed: Y``.
* The vendor's own SubCode tables for CheckResult sit behind links whose content we could not read. Numbers that
  other Alibaba Cloud products document (201-216 for BankMetaVerifyIntl, 201-204 for Mobile3MetaVerifyIntl,
  201-209 for the mainland Financial-grade DescribeFaceVerify) are other tables, not borrowed here.
* ``212``: the project's vendor notes (REFERENCE.md: "document anti-counterfeiting risk (billed)"); not found on a
  vendor page we could read: **unverified**.

The vendor's own SubCode tables ("ResultObject.SubCode", linked from each CheckResult page) could not be read: every
other code is unknown here and is said to be so, never guessed. Codes are opaque strings: the decision is the
vendor's ``Passed`` (Y/N), never the sub code (docs/vendor facts, "SubCode").
"""

from __future__ import annotations

from shared.values import valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Final, Literal

    Confidence = Literal["documented", "sample", "unverified"]


@valueclass
class SubCode:
    code: str
    meaning: str  # a short phrase, no trailing period
    confidence: Confidence
    source: str
    #: The verdict the source shows the code with (``Passed`` Y: PASSED, N: FAILED), or None: any. Next to another
    #: verdict the meaning is not stated: a sample seen with one verdict says nothing of the code with the other.
    verdict: str | None = None


SUB_CODES: Final[dict[str, SubCode]] = {
    row.code: row
    for row in (
        SubCode("200", "passed", "sample",
                "ID Verification samples (eKYC CheckResult field and callback examples, DocOcr): Passed Y",
                verdict="PASSED"),
        SubCode("205", "liveness check failed, a possible presentation attack", "sample",
                "FaceLiveness API metadata sample (not CheckResult): Passed N, SubCode 205, FaceAttack Y",
                verdict="FAILED"),
        SubCode("212", "document anti-counterfeiting risk",
                "unverified", "REFERENCE.md, CheckResult; not found on a readable vendor page"),
    )
}  # fmt: skip

_STATUS_SENTENCES: Final = {
    "PASSED": "The verification passed",
    "FAILED": "The verification did not pass",
    "PENDING": "The vendor is still checking",
    "ABANDONED": "The verification was never finished",
}


#: The meaning of a code next to a verdict its source does not show it with (``SubCode.verdict``).
NOT_WITH_THIS_VERDICT = "its meaning with this verdict is not documented"


def sub_code_meaning(sub_code: str | None, status: str | None = None) -> str | None:
    """What the table says a code means next to ``status`` (any when None): ``NOT_WITH_THIS_VERDICT`` beside a
    verdict its source does not show it with; ``None`` for a code it does not know."""
    row = SUB_CODES.get(sub_code or "")
    if row is None:
        return None
    if row.verdict is not None and status is not None and status != row.verdict:
        return NOT_WITH_THIS_VERDICT
    return row.meaning


def sub_code_message(sub_code: str | None, status: str | None = None) -> str | None:
    """One human sentence for a result: its status and what its sub code means, honest about unknown codes.

    ``None`` when there is nothing to say (no sub code yet). Never contains personal data: only the code itself."""
    if not sub_code:
        return None
    lead = _STATUS_SENTENCES.get(status or "", "The vendor answered")
    row = SUB_CODES.get(sub_code)
    if row is None:
        return f"{lead}. The vendor's sub code {sub_code[:16]} is not in our table of documented codes."
    if sub_code_meaning(sub_code, status) == NOT_WITH_THIS_VERDICT:
        return f"{lead} (sub code {row.code}; {NOT_WITH_THIS_VERDICT})."
    if row.code == "200":
        return "The verification passed (sub code 200)."
    hedge = ", meaning unverified" if row.confidence == "unverified" else ""
    return f"{lead}: {row.meaning} (sub code {row.code}{hedge})."
