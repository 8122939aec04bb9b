"""The start operations' switches: the optional vendor parameters a merchant's frontend may set, one table each.

One row per switch: its name in our HTTP API (camelCase, ``POST /verifications``), the vendor's parameter, and the
vendor's rule for its value. The client's validation (:mod:`shared.cloudauth.params`), its ``InitializeRequest``
fields (the snake_case of the API name) and the initializer (:mod:`shared.verifications`) all read this table.
The sandbox (``tools/sandbox/vendor.py``) keeps its own copy of the vendor's rules on purpose, so that the client is
tested against an independent reading of the documentation; ``tests/sandbox`` checks that the two agree.

Values are the vendor's (REFERENCE.md §1 "Initialize"; cloudauth-intl API metadata 2022-08-09, ``Initialize``).
Parameters that carry trust (``CallbackUrl``, ``CallbackToken``, ``MerchantBizId``, ``MerchantUserId``,
``ReturnUrl``) are never switches: the backend sets them, a request cannot.

Who sets a switch is this project's policy, not the vendor's: an *assurance* switch decides how strict the check is
or what evidence it keeps (anti-spoofing, authoritative verification, liveness model and level, OCR quality, a
picture from the album instead of the camera, editing what OCR read, the pages, NFC, the face video). The request
comes from the browser of the person being verified, so only the deployment sets those (``KYC_VENDOR_SWITCHES``);
a request sets the others (language, style, guide and result pages, capture mode, the order of the steps, the scene
code), never an assurance switch (found by review: ``idSpoof: "N"`` from the browser turned anti-spoofing off).

Each start operation has its own table (:data:`SWITCHES`, by operation name); a product accepts the switches of the
operation that starts it (:mod:`shared.products`), without the document switches when it verifies no document
(:func:`switches_for`). InitializeV2's parameter table could not be read (UNVERIFIED): the official SDK 3.23.1
documents the same switches with the same values on ``InitializeV2Request`` as on ``InitializeRequest``, so its table
has the same rows. A switch is a document switch where the SDK's description ties it to the document step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from shared import products


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


class Switch:
    """One switch. ``values``: the documented values (empty: free text); ``pattern``/``rule``: a format the value
    must match, and how to say so; ``json_object``: the value is a JSON object (our API also takes it unencoded);
    ``document``: it configures the document step, so a product that verifies no document does not take it;
    ``assurance``: only the deployment sets it, a request never (the module's docstring)."""

    __slots__ = ("api_name", "assurance", "document", "field", "json_object", "parameter", "pattern", "rule", "values")

    def __init__(
        self,
        api_name: str,
        parameter: str,
        values: Iterable[str] = (),
        *,
        pattern: str | None = None,
        rule: str = "",
        json_object: bool = False,
        document: bool = False,
        assurance: bool = False,
    ) -> None:
        self.api_name = api_name
        self.parameter = parameter
        self.field = _snake(api_name)  # the InitializeRequest field
        self.values = frozenset(values)
        self.pattern = pattern  # a full-match regular expression, compiled by its first use (cold start)
        self.rule = rule
        self.json_object = json_object
        self.document = document
        self.assurance = assurance

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


# Document switches, per the SDK's descriptions: IdSpoof "document anti-spoofing detection", Authorize "authoritative
# identity verification (... ID cards)", IdThreshold "OCR quality detection threshold", ShowAlbumIcon/ShowOcrResult/
# EditOcrResult "during the document OCR recognition step", DocScanMode "document capture photo mode", ProductFlow
# "order of document and face verification", Pages "portrait side / back side of the identity document", UseNFC
# "NFC verification (passport)".
_ROWS = (
    Switch("sceneCode", "SceneCode", pattern=r"[A-Za-z0-9_]{1,10}", rule="must be 1-10 letters, digits or _"),
    Switch("idSpoof", "IdSpoof", ("Y", "N"), document=True, assurance=True),
    Switch("authorize", "Authorize", ("T", "F"), document=True, assurance=True),
    Switch("securityLevel", "SecurityLevel", ("01", "02"), assurance=True),
    Switch("idThreshold", "IdThreshold", ("0", "1", "2", "3"), document=True, assurance=True),
    # The SDK documents a third value, TEMPLATE (InitializeRequest.template_config: "required when Model is set to
    # TEMPLATE", a custom pool of liveness actions): not offered, as the deployment cannot set the template with it.
    Switch("model", "Model", ("LIVENESS", "PHOTINUS_LIVENESS"), assurance=True),
    Switch("docVideo", "DocVideo", ("Y", "N"), assurance=True),  # a video of the face step
    Switch("showAlbumIcon", "ShowAlbumIcon", ("1", "0"), document=True, assurance=True),
    Switch("showOcrResult", "ShowOcrResult", ("1", "0"), document=True),
    Switch("showGuidePage", "ShowGuidePage", ("1", "0")),
    Switch("editOcrResult", "EditOcrResult", ("1", "0"), document=True, assurance=True),
    Switch("docScanMode", "DocScanMode", ("manual", "auto"), document=True),
    Switch("productFlow", "ProductFlow", ("DOC_FACE", "FACE_DOC"), document=True),
    Switch("pages", "Pages", ("01", "01,02"), document=True, assurance=True),
    Switch("procedurePriority", "ProcedurePriority", ("url", "keep")),
    Switch("useNfc", "UseNFC", ("Y", "N"), document=True, assurance=True),
    Switch("languageConfig", "LanguageConfig"),
    Switch("styleConfig", "StyleConfig", json_object=True),
)

#: The assurance switches every start sends unless ``KYC_VENDOR_SWITCHES`` says otherwise (it overrides each): the
#: vendor's defaults of these are lax, so the baseline is not (found by a newcomer's review: a deployment following
#: the docs let the person being verified upload a picture from the album and edit what OCR read). The vendor's
#: API metadata (cloudauth-intl 2022-08-09, ``Initialize``): IdThreshold "3 (default): Disable quality detection",
#: "0: Standard mode"; ShowAlbumIcon "1: Display (default)" (the album upload entry); EditOcrResult "1 (default):
#: Editable"; IdSpoof "Whether to enable certificate anti-counterfeiting detection", no default stated there, but the
#: Initialize pages state it: "N：关闭（默认）" (off by default; "Initialize", help/zh/ekyc/latest/pnklrdbny4tg6c1m,
#: Dec 16, 2024; the same in tc, Dec 25, 2025; found by review ww). All four are document switches: a face-only
#: product gets none.
STRICT_BASELINE: Mapping[str, str] = {"idSpoof": "Y", "idThreshold": "0", "showAlbumIcon": "0", "editOcrResult": "0"}

INITIALIZE_SWITCHES = Switches(_ROWS)
INITIALIZE_V2_SWITCHES = Switches(_ROWS)  # the same rows: see the module's docstring (UNVERIFIED)

#: Each start operation's switches, by the operation's name.
SWITCHES: Mapping[str, Switches] = {
    products.INITIALIZE: INITIALIZE_SWITCHES,
    products.INITIALIZE_V2: INITIALIZE_V2_SWITCHES,
}

#: Every switch by vendor parameter, whatever the operation (a parameter has one rule; a test checks the tables agree).
BY_PARAMETER: Mapping[str, Switch] = {s.parameter: s for table in SWITCHES.values() for s in table}


def switches_for(product: products.Product) -> Switches:
    """The switches ``product`` accepts: its start operation's, less the document switches when it verifies no
    document. Empty for a product no supported operation starts."""
    table = SWITCHES.get(product.start_operation or "")
    if table is None:
        return Switches(())
    if product.has_document is False:
        return Switches(s for s in table if not s.document)
    return table
