"""Initialize's switches: the optional vendor parameters a merchant's frontend may set, one table.

One row per switch: its name in our HTTP API (camelCase, ``POST /verifications``), the vendor's parameter, and the
vendor's rule for its value. The client's validation (:mod:`shared.cloudauth.params`), its ``InitializeRequest``
fields (the snake_case of the API name) and the initializer (:mod:`shared.verifications`) all read this table.
The sandbox (``tools/sandbox/vendor.py``) keeps its own copy of the vendor's rules on purpose, so that the client is
tested against an independent reading of the documentation; ``tests/sandbox`` checks that the two agree.

Values are the vendor's (REFERENCE.md §1 "Initialize"; cloudauth-intl API metadata 2022-08-09, ``Initialize``).
Parameters that carry trust (``CallbackUrl``, ``CallbackToken``, ``MerchantBizId``, ``MerchantUserId``,
``ReturnUrl``) are never switches: the backend sets them, a request cannot.

A second start operation (e.g. a later Initialize version) would get its own :class:`Switches` table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


class Switch:
    """One switch. ``values``: the documented values (empty: free text); ``pattern``/``rule``: a format the value
    must match, and how to say so; ``json_object``: the value is a JSON object (our API also takes it unencoded)."""

    __slots__ = ("api_name", "field", "json_object", "parameter", "pattern", "rule", "values")

    def __init__(
        self,
        api_name: str,
        parameter: str,
        values: Iterable[str] = (),
        *,
        pattern: str | None = None,
        rule: str = "",
        json_object: bool = False,
    ) -> None:
        self.api_name = api_name
        self.parameter = parameter
        self.field = _snake(api_name)  # the InitializeRequest field
        self.values = frozenset(values)
        self.pattern = re.compile(pattern) if pattern is not None else None
        self.rule = rule
        self.json_object = json_object

    def __repr__(self) -> str:
        return f"Switch({self.api_name!r} -> {self.parameter!r})"


class Switches:
    """A start operation's switches, in API order, by API name and by vendor parameter."""

    __slots__ = ("by_api_name", "by_parameter")

    def __init__(self, switches: Iterable[Switch]) -> None:
        self.by_api_name = {s.api_name: s for s in switches}
        self.by_parameter = {s.parameter: s for s in self.by_api_name.values()}

    def __iter__(self) -> Iterator[Switch]:
        return iter(self.by_api_name.values())

    def __len__(self) -> int:
        return len(self.by_api_name)


INITIALIZE_SWITCHES = Switches(
    (
        Switch("sceneCode", "SceneCode", pattern=r"[A-Za-z0-9_]{1,10}", rule="must be 1-10 letters, digits or _"),
        Switch("idSpoof", "IdSpoof", ("Y", "N")),
        Switch("authorize", "Authorize", ("T", "F")),
        Switch("securityLevel", "SecurityLevel", ("01", "02")),
        Switch("idThreshold", "IdThreshold", ("0", "1", "2", "3")),
        Switch("model", "Model", ("LIVENESS", "PHOTINUS_LIVENESS")),
        Switch("docVideo", "DocVideo", ("Y", "N")),
        Switch("showAlbumIcon", "ShowAlbumIcon", ("1", "0")),
        Switch("showOcrResult", "ShowOcrResult", ("1", "0")),
        Switch("showGuidePage", "ShowGuidePage", ("1", "0")),
        Switch("editOcrResult", "EditOcrResult", ("1", "0")),
        Switch("docScanMode", "DocScanMode", ("manual", "auto")),
        Switch("productFlow", "ProductFlow", ("DOC_FACE", "FACE_DOC")),
        Switch("pages", "Pages", ("01", "01,02")),
        Switch("procedurePriority", "ProcedurePriority", ("url", "keep")),
        Switch("useNfc", "UseNFC", ("Y", "N")),
        Switch("languageConfig", "LanguageConfig"),
        Switch("styleConfig", "StyleConfig", json_object=True),
    )
)
