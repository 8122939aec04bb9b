"""CheckResult response → typed objects. See :func:`parse_check_result`.

One module on purpose, past the usual ~400 lines: :func:`parse_check_result` fills these frozen slot classes by
direct slot stores with its hot paths inlined (docs/performance.md, "Parsing"), so the classes and the parser change
together.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

from shared import jsonutil, products
from shared.results._frozen import positional_builder
from shared.results.errors import ResultParseError
from shared.results.identity import Identity, build_identity, guess_doc_type
from shared.results.images import FACE_KEYS, ID_BACK_KEYS, ID_FRONT_KEYS, IMAGE_KEYS, Image, Images, find_image
from shared.status import Status
from shared.subcodes import sub_code_meaning
from shared.values import field, valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

# A parsed ``Ext*Info`` value: the JSON object/array when the vendor's string holds JSON, else the raw string.
ExtValue = dict[str, "Any"] | list["Any"] | str | None  # exported at run time: typing's ``Any`` as a string


# Result.Passed: "Y" passed, "N" not passed ("CheckResult", eKYC, help/zh/ekyc/latest/oce0nqzn6tkr2qqq, Oct 25,
# 2024); "P: 待定。该状态后续将更新为Y或N" (pending, later Y or N: "CheckResult", help/zh/ekyc/latest/gsz1q5nkto9u0acn,
# Jan 22, 2024; found by review ww).
_STATUS_BY_PASSED = {"Y": Status.PASSED, "N": Status.FAILED, "P": Status.PENDING}

def sub_code_description(sub_code: str | None, status: str | None = None) -> str | None:
    """What a known sub code means next to ``status`` (:func:`shared.subcodes.sub_code_meaning`), ``None`` for
    unknown ones."""
    return sub_code_meaning(sub_code, status)


@valueclass(slots=True)
class SpoofInfo:
    """``ExtIdInfo.spoofInfo``. ``spoof_result`` is the vendor's ``spoofResult`` Y → True, N → False, else None
    (kept as the vendor's flag, not reinterpreted); ``raw`` is the whole object (e.g. five-category results)."""

    spoof_result: bool | None = None
    spoof_types: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"spoofResult": self.spoof_result, "spoofTypes": list(self.spoof_types)}


@valueclass(slots=True)
class FaceInfo:
    """``ExtFaceInfo``: the liveness and face verdicts. Y/N flags as bools, scores as floats (the vendor's scale);
    ``raw`` is the object without its image fields (every other key the vendor sends stays there).

    Keys read, camelCase or PascalCase (the vendor uses both: "CheckResult" KYC_GLOBAL page, Jan 22, 2024;
    FaceLiveness and FaceVerifyIntl samples of the API metadata / SDK): ``facePassed``, ``faceAttack`` (Y = a
    presentation attack was detected), ``faceComparisonScore``, ``authorityComparisonScore``, ``faceQuality`` /
    ``faceQualityScore``, ``faceOcclusion`` / ``occlusionResult``, ``faceAttackScore``. Which of them
    FACE_LIVENESS_PRO fills is UNVERIFIED (its response table could not be read).
    """

    face_passed: bool | None = None
    face_attack: bool | None = None
    face_comparison_score: float | None = None
    authority_comparison_score: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    face_quality_score: float | None = None
    face_occlusion: bool | None = None
    face_attack_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "facePassed": self.face_passed,
            "faceAttack": self.face_attack,
            "faceComparisonScore": self.face_comparison_score,
            "authorityComparisonScore": self.authority_comparison_score,
            "faceQualityScore": self.face_quality_score,
            "faceOcclusion": self.face_occlusion,
            "faceAttackScore": self.face_attack_score,
        }


_new_spoof = positional_builder(SpoofInfo)  # the value classes positionally, all fields, without the frozen __init__
_new_face = positional_builder(FaceInfo)

class _Missing:
    """"Not parsed yet" in a response's cache. One object, also after pickling or copying (pickled by name), so a
    copied response still parses its parts on first access instead of returning the marker."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_MISSING"

    def __repr__(self) -> str:
        return "<not parsed yet>"


_MISSING: Any = _Missing()

# The lazily parsed parts are cached in a list (a constant index is cheaper than a string-keyed dict lookup).
(_ID_INFO, _OCR, _DOC_TYPE, _IDENTITY, _SPOOF, _FACE, _EDIT, _IMAGES, _EXT_BASIC, _EXT_RISK, _EXT_INFO, _EKYC,
 _EXT_SOURCE) = range(13)  # fmt: skip
_EMPTY_CACHE: list[Any] = [_MISSING] * 13


@valueclass(slots=True, eq=False)
class CheckResultResponse:
    """One parsed CheckResult response. ``repr`` shows no personal data.

    The top-level fields are read eagerly by :func:`parse_check_result`. Everything inside the vendor's JSON-string
    fields (``ExtIdInfo``, ``ExtFaceInfo``, ``Ext*Info``, ``EkycResult``) is parsed on first access of the property
    that needs it and cached, so a caller that only routes on ``status`` pays for one ``jsonutil.loads``. The nested
    parsing never raises (tolerant by contract); only ``Image.data`` can raise (:class:`ImageDecodeError`).
    """

    request_id: str | None
    passed: str  # raw "Y" / "N" / "P"
    status: Status
    sub_code: str | None = None
    code: str | None = None  # top-level Code / Message of the response
    message: str | None = None
    result_raw: Mapping[str, Any] = field(default_factory=dict)  # the vendor's Result object, untouched
    doc_type_hint: str | None = None
    product_code: str | None = None  # the ProductCode given at Initialize, when the caller knows it
    _cache: list[Any] = field(default_factory=_EMPTY_CACHE.copy, init=False)  # by the _ID_INFO... indices

    def __repr__(self) -> str:
        return (
            f"CheckResultResponse(request_id={self.request_id!r}, status={self.status.value}, "
            f"sub_code={self.sub_code!r}, doc_type_hint={self.doc_type_hint!r}, product_code={self.product_code!r})"
        )

    @property
    def has_document(self) -> bool:
        """False for a product that verifies no document (:mod:`shared.products`): such a result never carries an
        identity or a document type, whatever its ``ExtIdInfo`` holds (kept raw in the record)."""
        product = products.PRODUCTS.get(self.product_code) if self.product_code else None
        return product is None or product.has_document is not False

    # -- lazily parsed parts ---------------------------------------------------------------------------------------

    def _id_info(self) -> dict[str, Any]:
        info = self._cache[_ID_INFO]
        if info is _MISSING:
            info = self._cache[_ID_INFO] = _object(self.result_raw.get("ExtIdInfo")) or {}
        return info  # type: ignore[no-any-return]

    def _face_parts(self) -> tuple[FaceInfo, Image | None]:
        parts = self._cache[_FACE]
        if parts is _MISSING:
            parts = self._cache[_FACE] = _face(_object(self.result_raw.get("ExtFaceInfo")))
        return parts  # type: ignore[no-any-return]

    def _ext(self, index: int, key: str) -> ExtValue:
        value = self._cache[index]
        if value is _MISSING:
            value = self._cache[index] = _json(self.result_raw.get(key))
        return value  # type: ignore[no-any-return]

    @property
    def sub_code_description(self) -> str | None:
        return sub_code_description(self.sub_code, self.status.value)

    @property
    def ocr_raw(self) -> dict[str, Any]:
        """The vendor's ``ocrIdInfo`` as it came (decoded from its JSON string when nested); ``{}`` when absent."""
        cache = self._cache
        ocr = cache[_OCR]
        if ocr is _MISSING:
            info = cache[_ID_INFO]
            if info is _MISSING:
                info = self._id_info()
            ocr = cache[_OCR] = _object(info.get("ocrIdInfo")) or {}
        return ocr  # type: ignore[no-any-return]

    @property
    def doc_type(self) -> str | None:
        """The ``doc_type`` hint given to the parser, else a ``docType`` the vendor declares (in ``ExtBasicInfo``:
        not documented, used when present; in ``ExtIdInfo`` or ``ocrIdInfo``: DocOcrMax and EkycVerify samples), else
        guessed from the OCR field names, else ``None``. Always ``None`` for a product without a document."""
        if not self.has_document:
            return None
        if self.doc_type_hint:
            return self.doc_type_hint
        guessed = self._cache[_DOC_TYPE]
        if guessed is _MISSING:
            basic = self.ext_basic_info
            declared = (
                (_text(basic.get("docType")) if isinstance(basic, dict) else None)
                or _text(self._id_info().get("docType"))
                or _text(self.ocr_raw.get("docType"))
            )
            guessed = self._cache[_DOC_TYPE] = declared or guess_doc_type(self.ocr_raw)
        return guessed  # type: ignore[no-any-return]

    @property
    def identity(self) -> Identity | None:
        """The normalised identity, ``None`` when the OCR has no recognisable field or the product verifies no
        document (a face-only result never gets an identity, even from stray OCR fields)."""
        cache = self._cache
        identity = cache[_IDENTITY]
        if identity is _MISSING:
            if self.product_code is not None and not self.has_document:
                identity = cache[_IDENTITY] = None
                return None
            ocr = cache[_OCR]
            if ocr is _MISSING:
                ocr = self.ocr_raw
            identity = cache[_IDENTITY] = build_identity(ocr, self.doc_type_hint or self.doc_type)
        return identity  # type: ignore[no-any-return]

    @property
    def ocr_id_passed(self) -> bool | None:
        return _yes_no(self._id_info().get("ocrIdPassed"))

    @property
    def spoof(self) -> SpoofInfo:
        cache = self._cache
        spoof = cache[_SPOOF]
        if spoof is _MISSING:
            info = cache[_ID_INFO]
            if info is _MISSING:
                info = self._id_info()
            spoof = cache[_SPOOF] = _spoof(info.get("spoofInfo"))
        return spoof  # type: ignore[no-any-return]

    @property
    def face(self) -> FaceInfo:
        parts = self._cache[_FACE]
        if parts is _MISSING:
            parts = self._cache[_FACE] = _face(_object(self.result_raw.get("ExtFaceInfo")))
        return parts[0]  # type: ignore[no-any-return]

    @property
    def ocr_id_edit_info(self) -> dict[str, Any] | None:
        """``ocrIdEditInfo`` (the fields the user edited), decoded when nested; ``None`` when absent."""
        edit = self._cache[_EDIT]
        if edit is _MISSING:
            edit = self._cache[_EDIT] = _object(self._id_info().get("ocrIdEditInfo"))
        return edit  # type: ignore[no-any-return]

    @property
    def images(self) -> Images:
        """The returned images, not decoded (see :class:`Image`)."""
        images = self._cache[_IMAGES]
        if images is _MISSING:
            info = self._id_info()
            images = self._cache[_IMAGES] = Images(
                find_image(info, ID_FRONT_KEYS), find_image(info, ID_BACK_KEYS), self._face_parts()[1]
            )
        return images  # type: ignore[no-any-return]

    @property
    def ext_id_extra(self) -> dict[str, Any]:
        """``ExtIdInfo`` keys not modelled by the properties above, image fields excluded."""
        info = self._id_info()
        return {key: value for key, value in info.items() if key not in _ID_INFO_MODELLED}

    @property
    def ext_basic_info(self) -> ExtValue:
        return self._ext(_EXT_BASIC, "ExtBasicInfo")

    @property
    def ext_risk_info(self) -> ExtValue:
        return self._ext(_EXT_RISK, "ExtRiskInfo")

    @property
    def ext_info(self) -> ExtValue:
        return self._ext(_EXT_INFO, "ExtInfo")

    @property
    def ekyc_result(self) -> ExtValue:
        return self._ext(_EKYC, "EkycResult")

    @property
    def ext_source_info(self) -> ExtValue:
        """``ExtSourceInfo``: read by the official SDK model, not listed in the API metadata."""
        return self._ext(_EXT_SOURCE, "ExtSourceInfo")

    # -- outputs ---------------------------------------------------------------------------------------------------

    def to_record(self, *, unsaved: Collection[str] = ()) -> dict[str, Any]:
        """JSON-ready camelCase dict of everything the vendor sent but the contents of :attr:`images` (what we
        store; those are saved as objects of their own): each image is taken out of the section it came in, and
        nothing else is. An image under a name we do not know, or in another place, stays in its section: never
        dropped (the fetcher then stores such images apart by their content:
        :func:`shared.results.images.images_by_content`); so do the images named in ``unsaved`` (the fetcher's: those it
        could not decode, hence not save). A section that is not the JSON object it should be (malformed text, an
        array) is kept as sent (``_kept``)."""
        identity = self.identity
        spoof = self.spoof
        face = self.face
        info = self._id_info()
        raw = self.result_raw
        images = self.images
        saved = {image.name for image in (images.id_front, images.id_back) if image and image.name not in unsaved}
        id_extra = {key: value for key, value in info.items() if key not in _ID_INFO_FIELDS and key not in saved}
        face_raw = face.raw
        if images.face is not None and images.face.name in unsaved:
            face_raw = {**face_raw, images.face.name: images.face.text}
        return {
            "requestId": self.request_id,
            "code": self.code,
            "message": self.message,
            "productCode": self.product_code,
            "passed": self.passed,
            "status": self.status.value,
            "subCode": self.sub_code,
            "docType": self.doc_type,
            "ocrIdPassed": self.ocr_id_passed,
            "identity": None if identity is None else identity.to_dict(),
            "ocrIdInfo": _kept(self.ocr_raw, info.get("ocrIdInfo"), {}),
            "ocrIdEditInfo": _kept(self.ocr_id_edit_info, info.get("ocrIdEditInfo"), None),
            "spoof": spoof.to_dict(),
            "spoofInfo": _kept(spoof.raw, info.get("spoofInfo"), {}),
            "face": face.to_dict(),
            "extFaceInfo": _kept(face_raw, raw.get("ExtFaceInfo"), {}),
            "extIdInfo": _kept(id_extra if info else None, raw.get("ExtIdInfo"), {}),
            "extBasicInfo": _kept(self.ext_basic_info, raw.get("ExtBasicInfo"), None),
            "extRiskInfo": _kept(self.ext_risk_info, raw.get("ExtRiskInfo"), None),
            "extInfo": _kept(self.ext_info, raw.get("ExtInfo"), None),
            "ekycResult": _kept(self.ekyc_result, raw.get("EkycResult"), None),
            "extSourceInfo": _kept(self.ext_source_info, raw.get("ExtSourceInfo"), None),
            "images": images.metadata(),
        }

    def summary(self) -> dict[str, Any]:
        """What the operator CLI prints (identity unmasked: the operator is entitled to it)."""
        identity = self.identity
        return {
            "status": self.status.value,
            "passed": self.passed,
            "subCode": self.sub_code,
            "productCode": self.product_code,
            "docType": self.doc_type,
            "identity": None if identity is None else identity.to_dict(),
            "spoof": self.spoof.to_dict(),
            "face": self.face.to_dict(),
        }


def _kept(parsed: Any, sent: Any, empty: Any) -> Any:
    """A section's record value: what it holds; when it holds nothing (``None``, ``{}``), what the vendor sent if
    that was not a JSON object (``_unparsed``)."""
    if parsed is None or (type(parsed) is dict and not parsed):
        return _unparsed(sent, empty if parsed is None else parsed)
    return parsed


_loads = jsonutil.loads
_JSONDecodeError = jsonutil.JSONDecodeError

MAX_NESTING = 128
"""The deepest a section (or the whole answer) may nest, in objects and arrays, to be kept as parsed. The reader
takes 1024 levels (orjson), but the standard library's encoder and the answer's digest recurse once per level and
fail near Python's recursion limit (1000): a section nested that deep would be a 500 at every try and its verdict
never kept. Deeper sections are kept as the vendor's text (which encodes flat); a whole answer that deep is unusable.
The vendor's documented sections nest a few levels; 128 is serde_json's default limit."""


def _nests_deeper(value: dict[str, Any] | list[Any], limit: int = MAX_NESTING) -> bool:
    """Whether ``value`` has objects/arrays nested more than ``limit`` levels (itself is level 1); iterative, and
    it stops at the first path past the limit."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        container, level = pending.pop()
        if level > limit:
            return True
        for item in container.values() if type(container) is dict else container:
            if type(item) is dict or type(item) is list:
                pending.append((item, level + 1))
    return False


def _json(value: Any) -> ExtValue:
    """A vendor JSON-string field: object/array parsed, other text kept raw, empty/``null``/non-text → ``None``."""
    if isinstance(value, str):
        first = value[:1]
        if first in ("{", "["):  # the usual case: no copy of a possibly large string by strip()
            try:
                parsed = _loads(value)
            except _JSONDecodeError:
                return value
            return parsed if isinstance(parsed, (dict, list)) and not _nests_deeper(parsed) else value
        text = value.strip()
        if not text or text == "null":
            return None
        if text[0] in "{[":
            try:
                parsed = _loads(text)
            except _JSONDecodeError:
                return value
            if isinstance(parsed, (dict, list)) and not _nests_deeper(parsed):
                return parsed
        return value
    if isinstance(value, (dict, list)):
        return value
    return None


def _unparsed(value: Any, empty: Any) -> Any:
    """An empty section's record value: ``empty``, or what the vendor sent when it is not a JSON object, so that
    nothing the vendor sent is dropped: text that is not JSON (e.g. the malformed sample of the EkycVerify
    documentation, a trailing comma) as sent, a non-empty array (or its JSON text)."""
    sent = _json(value) if isinstance(value, str) else value
    if isinstance(sent, list):
        return sent or empty
    if isinstance(sent, str):
        return sent
    return empty


def _object(value: Any) -> dict[str, Any] | None:
    """A field that should hold a JSON object (possibly as a string): the dict, else ``None``."""
    if type(value) is str and value[:1] == "{":  # fast path: the vendor's JSON-string object
        try:
            parsed = _loads(value)
        except _JSONDecodeError:
            return None
        return parsed if type(parsed) is dict and not _nests_deeper(parsed) else None
    if type(value) is dict or isinstance(value, dict):
        return value
    if isinstance(value, str):
        parsed = _json(value)
        if isinstance(parsed, dict):
            return parsed
    return None


_FLAGS = {"Y": True, "N": False}


def _yes_no(value: Any) -> bool | None:
    if type(value) is str:  # fast path: the vendor's plain "Y" / "N"
        known = _FLAGS.get(value)
        if known is not None:
            return known
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        flag = value.strip().upper()
        if flag in ("Y", "YES", "TRUE", "T"):
            return True
        if flag in ("N", "NO", "FALSE", "F"):
            return False
    return None


def _score(value: Any) -> float | None:
    if type(value) is float:  # fast path
        return value if math.isfinite(value) else None
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        score = float(value)
    elif isinstance(value, str):
        try:
            score = float(value)
        except ValueError:
            return None
    else:
        return None
    return score if math.isfinite(score) else None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _spoof_types(value: Any) -> tuple[str, ...]:
    if type(value) is list and not value:  # fast path: the usual []
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = _json(text)
            if isinstance(parsed, list):
                value = parsed
            else:
                return ()
        else:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    if isinstance(value, list):
        return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())
    return ()


def _spoof(value: Any) -> SpoofInfo:
    info = value if type(value) is dict else _object(value)
    if info is None:
        return SpoofInfo()
    result, types = info.get("spoofResult"), info.get("spoofType")
    flag = _FLAGS.get(result) if type(result) is str else None  # the vendor's plain Y/N without a call
    spoof_types = () if type(types) is list and not types else _spoof_types(types)
    return _new_spoof(_yes_no(result) if flag is None else flag, spoof_types, info)


_FACE_KEY_SET = frozenset(FACE_KEYS)


def _either(info: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present in ``info`` (the vendor writes the same key camelCase or PascalCase)."""
    for name in names:
        value = info.get(name)
        if value is not None:
            return value
    return None


def _face(info: dict[str, Any] | None) -> tuple[FaceInfo, Image | None]:
    if info is None:
        return FaceInfo(), None
    image = None if _FACE_KEY_SET.isdisjoint(info) else find_image(info, FACE_KEYS)
    raw = {key: value for key, value in info.items() if key != image.name} if image is not None else info
    passed, attack = info.get("facePassed"), info.get("faceAttack")
    if passed is None and attack is None:  # PascalCase objects (FaceLiveness samples)
        passed, attack = info.get("FacePassed"), info.get("FaceAttack")
    score, authority = info.get("faceComparisonScore"), info.get("authorityComparisonScore")
    quality = _either(info, "faceQuality", "faceQualityScore", "FaceQualityScore")
    occlusion = _either(info, "faceOcclusion", "occlusionResult", "OcclusionResult")
    attack_score = _either(info, "faceAttackScore", "FaceAttackScore")
    # the vendor's plain Y/N flags, finite float score and missing authority score without a call
    face_passed = _FLAGS.get(passed) if type(passed) is str else None
    face_attack = _FLAGS.get(attack) if type(attack) is str else None
    face = _new_face(
        _yes_no(passed) if face_passed is None else face_passed,
        _yes_no(attack) if face_attack is None else face_attack,
        score if type(score) is float and score - score == 0.0 else _score(score),  # finite: inf - inf is nan
        None if authority is None else _score(authority),
        raw,
        None if quality is None else _score(quality),
        None if occlusion is None else _yes_no(occlusion),
        None if attack_score is None else _score(attack_score),
    )
    return face, image


_new_response = positional_builder(CheckResultResponse)

_ID_INFO_FIELDS = frozenset(("ocrIdPassed", "ocrIdInfo", "spoofInfo", "ocrIdEditInfo"))  # each shown on its own
_ID_INFO_MODELLED = _ID_INFO_FIELDS | IMAGE_KEYS


def parse_check_result(
    body: Mapping[str, Any] | bytes | bytearray | memoryview | str,
    *,
    doc_type: str | None = None,
    product_code: str | None = None,
) -> CheckResultResponse:
    """Parse a whole CheckResult response (``{"RequestId","Code","Message","Result":{...}}``, decoded or raw JSON).

    ``doc_type`` is the ``DocType`` given at Initialize; without it the type is guessed from the OCR field names
    (:func:`shared.results.identity.guess_doc_type`). ``product_code`` is the ``ProductCode`` given at Initialize;
    for a product without a document (FACE_LIVENESS_PRO) the result has no identity and no document type.
    Raises :class:`ResultParseError` only when the response is
    unusable: not JSON, not an object, nested deeper than ``MAX_NESTING``, no ``Result`` object, ``Result.Passed``
    missing or not ``Y``/``N``/``P``. Unknown sub codes, unknown fields, missing/empty/``"null"``/non-JSON
    ``Ext*Info`` strings are tolerated; an ``Ext*Info`` string nested deeper than ``MAX_NESTING`` is kept as text.
    """
    if type(body) is bytes or isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            decoded = _loads(body)
        except _JSONDecodeError:
            raise ResultParseError("body", "is not valid JSON") from None
    else:
        decoded = body
    if type(decoded) is not dict and not isinstance(decoded, Mapping):  # type() first: the ABC check is slow
        raise ResultParseError("body", "is not a JSON object")
    if type(decoded) is dict and _nests_deeper(decoded):
        raise ResultParseError("body", f"nests deeper than {MAX_NESTING} levels")
    result = decoded.get("Result")
    if type(result) is not dict and not isinstance(result, Mapping):
        raise ResultParseError("Result", "is missing or not an object")
    passed = result.get("Passed")
    status = _STATUS_BY_PASSED.get(passed) if type(passed) is str else None
    if status is None:
        raise ResultParseError("Result.Passed", "is missing or not one of Y, N, P")
    request_id, sub_code, code, message = (
        decoded.get("RequestId"), result.get("SubCode"), decoded.get("Code"), decoded.get("Message"))
    return _new_response(  # non-empty str values are the usual case: kept without a call to _text
        request_id if type(request_id) is str and request_id else _text(request_id),
        passed,
        status,
        sub_code if type(sub_code) is str and sub_code else _text(sub_code),
        code if type(code) is str and code else _text(code),
        message if type(message) is str and message else _text(message),
        result,
        doc_type or None,
        product_code or None,
        _EMPTY_CACHE.copy(),  # _cache
    )
