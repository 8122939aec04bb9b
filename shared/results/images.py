"""Lazily decoded base64 images from a CheckResult (``IsReturnImage=Y``).

Nothing is decoded at parse time: an :class:`Image` keeps a reference to the vendor's base64 text and decodes it on
the first read of :attr:`Image.data` (then caches the bytes). :attr:`Image.content_type` decodes only the first
16 base64 characters to sniff the magic bytes.

Decoding an image's text uses pybase64 (SIMD; imported on the first image): CPython's ``binascii`` decodes about
0.35 GB/s here, and with two 1 MB images it was about half of the result_fetcher's CPU per callback
(docs/performance.md). Same alphabet, padding and strictness as ``base64.b64decode(validate=True)``, which decodes
the 16-character heads (no import for those); ``tests/test_results_images.py`` checks that both agree.
"""

from __future__ import annotations

import binascii
import bisect
import re
from base64 import b64decode
from collections.abc import Iterator, Sequence

from shared.results.errors import ImageDecodeError

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

OCTET_STREAM = "application/octet-stream"

# Vendor key names. Front side: documented ``idImage``. Face: ``faceImg`` in ExtFaceInfo's sample ("CheckResult",
# eKYC, help/zh/ekyc/latest/oce0nqzn6tkr2qqq, Oct 25, 2024: "faceImg": base64), never in a response table. Back side:
# *unknown*. Other plausible spellings are accepted, and an image under any name is found by its content
# (``images_by_content``).
ID_FRONT_KEYS = ("idImage", "idFrontImage")
ID_BACK_KEYS = ("idBackImage", "idImageBack", "backIdImage", "idImageBackSide")
FACE_KEYS = ("faceImg", "faceImage", "facePicture")
IMAGE_KEYS = frozenset((*ID_FRONT_KEYS, *ID_BACK_KEYS, *FACE_KEYS))


def sniff_content_type(head: bytes) -> str:
    """MIME type from magic bytes: jpeg, png, gif, webp, bmp; else ``application/octet-stream``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"BM"):
        return "image/bmp"
    return OCTET_STREAM


def _payload(text: str) -> str:
    """The base64 part: a ``data:...;base64,`` prefix and line breaks removed (only when present)."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if "\n" in text or "\r" in text or " " in text:
        text = "".join(text.split())
    return text


FAST_FROM = 4096
"""From this many base64 characters on, pybase64 decodes (below, its import would cost more than it saves)."""


def _strict_b64decode(text: str) -> bytes:
    """``base64.b64decode(text, validate=True)``: raises ``binascii.Error`` (bad alphabet or padding) or
    ``ValueError`` (not ASCII)."""
    if len(text) < FAST_FROM:
        return b64decode(text, validate=True)
    try:
        import pybase64  # noqa: PLC0415 - only a result carrying images pays for its import
    except ImportError:  # a package built for another platform: slower, never a lost image
        return b64decode(text, validate=True)
    return pybase64.b64decode(text, validate=True)


def _decode(text: str) -> bytes:
    """Missing padding is added; more "=" than the last group needs is refused (Python 3.10's strict decoder, which
    FC runs, refuses it; 3.11's accepts "=" after a whole group, pybase64 does not: one rule for all three)."""
    if "-" in text or "_" in text:  # URL-safe alphabet
        text = text.replace("-", "+").replace("_", "/")
    data = text.rstrip("=")
    needed = -len(data) % 4
    if len(text) - len(data) > needed or needed == 3:  # excess padding, or a length no base64 text has
        raise binascii.Error("incorrect padding")
    return _strict_b64decode(data + "=" * needed)


class Image:
    """One base64 image. ``name`` is the vendor's key (``idImage``, ``faceImg``...)."""

    __slots__ = ("_data", "_text", "name")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self._text = text
        self._data: bytes | None = None

    def __repr__(self) -> str:  # never the content
        return f"Image(name={self.name!r}, size~{self.size})"

    @property
    def text(self) -> str:
        """The vendor's base64 text, as sent."""
        return self._text

    @property
    def size(self) -> int:
        """Estimated decoded size in bytes, from the base64 length (no decoding)."""
        text = self._text
        n = len(text)
        if text.startswith("data:"):
            n -= text.find(",") + 1
        pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
        return max(0, n * 3 // 4 - pad)

    @property
    def data(self) -> bytes:
        """The decoded bytes (decoded on first access, then cached). Raises :class:`ImageDecodeError`."""
        if self._data is None:
            try:
                self._data = _decode(_payload(self._text))
            except (binascii.Error, ValueError):
                raise ImageDecodeError(self.name) from None
        return self._data

    @property
    def content_type(self) -> str:
        """MIME type sniffed from the first decoded bytes; ``application/octet-stream`` when unknown or undecodable."""
        if self._data is not None:
            return sniff_content_type(self._data[:12])
        head = _payload(self._text[:200])[:16]
        head = head.rstrip("=")
        head = head[: len(head) // 4 * 4]
        try:
            return sniff_content_type(_decode(head))
        except (binascii.Error, ValueError):
            return OCTET_STREAM


class Images:
    """The images of one result; each ``None`` when the vendor did not return it."""

    __slots__ = ("face", "id_back", "id_front")

    def __init__(self, id_front: Image | None = None, id_back: Image | None = None, face: Image | None = None) -> None:
        self.id_front = id_front
        self.id_back = id_back
        self.face = face

    def __iter__(self) -> Iterator[Image]:
        for image in (self.id_front, self.id_back, self.face):
            if image is not None:
                yield image

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return self.id_front is not None or self.id_back is not None or self.face is not None

    def __repr__(self) -> str:
        return f"Images({', '.join(repr(i) for i in self)})"

    def get(self, name: str) -> Image | None:
        """The image whose vendor key is ``name``."""
        for image in self:
            if image.name == name:
                return image
        return None

    def metadata(self) -> list[dict[str, object]]:
        """``[{"name", "sizeEstimate"}]`` for the record: no bytes, nothing decoded."""
        return [{"name": image.name, "sizeEstimate": image.size} for image in self]


def find_image(info: dict[str, object], keys: tuple[str, ...]) -> Image | None:
    for key in keys:
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return Image(key, value)
    return None


#: The shortest text taken for an image by its content (``images_by_content``): the vendor's images are kilobytes
#: of base64; a shorter string is a value, not a picture.
IMAGE_TEXT_MIN = 1024
#: What an image taken out by its content leaves in its place in the stored result: ``{STORED_IMAGE: name}`` for a
#: whole value, ``STORED_IMAGE:name`` inside a text, the name under which the document's ``images`` lists its object.
STORED_IMAGE = "storedImage"
#: A run of base64 inside a longer text (a section kept as the vendor's text, a JSON string inside a section): where
#: an image can hide that is not a whole value. Compiled by its first use (``re``'s cache; cold start).
_BASE64_RUN = rf"(?:data:image/[a-z]+;base64,)?[A-Za-z0-9+/_-]{{{IMAGE_TEXT_MIN},}}={{0,2}}"
#: What may break a run of base64 and still be one (review vv): line breaks (MIME wraps base64 in lines), the JSON
#: escapes of line breaks in a text kept as the vendor's, and the backslash of a JSON-escaped slash (``\/``, valid
#: JSON, which some encoders write for every ``/``). Left out of the run, and of the image decoded from it.
_RUN_BREAK = r"\r|\n|\\[rn]|\\(?=/)"
#: How many lines into a run its image may begin, and how many from its end it may end: a run glues to the image
#: lines of other text before or after it that look like base64 too (``word\n/9j/...``, ``...AAAA\nend``).
_RUN_LINES_TRIED = 8


def _image_of(text: str) -> tuple[str, bytes] | None:
    """``(content type, data)`` when ``text`` is an image's base64 (its first bytes an image's, and it decodes)."""
    image = Image("", text)
    if image.content_type == OCTET_STREAM:
        return None
    try:
        return image.content_type, image.data
    except ImageDecodeError:
        return None


def images_by_content(record: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """Take out of ``record`` (a parsed answer) the images the parser did not know by their field name: texts of
    ``IMAGE_TEXT_MIN`` characters or more whose first bytes are an image's and that decode, whole values or runs of
    base64 inside a longer text (a section kept as the vendor's text, a JSON string inside a section; broken in lines
    or by escaped slashes: ``_RUN_BREAK``). A whole value
    is replaced by ``{STORED_IMAGE: name}``, a run by ``STORED_IMAGE:name``; each image is returned as ``(name,
    content type, data)``, named ``image1``, ``image2``... in the order of their places in the record (the path of
    keys and indices, then the offset in the text; never the vendor's key order, so equal answers get equal names).
    Why: the stored document is what the notifier's role may read (template.yml), and an image under a name no
    response table documents (``FACE_KEYS``, ``ID_BACK_KEYS``) stayed inside it (found by reviews tt and uu).
    What does not decode stays where it is: never dropped."""
    found: list[tuple[tuple[tuple[int, Any], ...], Any, Any, str]] = []
    pending: list[tuple[tuple[tuple[int, Any], ...], Any]] = [((), record)]
    while pending:
        path, container = pending.pop()
        items = container.items() if type(container) is dict else enumerate(container)
        for key, value in items:
            place = (*path, (0, key) if type(key) is int else (1, str(key)))
            if type(value) is dict or type(value) is list:
                pending.append((place, value))
            elif type(value) is str and len(value) >= IMAGE_TEXT_MIN:
                found.append((place, container, key, value))
    images: list[tuple[str, str, bytes]] = []
    for _, container, key, text in sorted(found, key=lambda entry: entry[0]):
        whole = _image_of(text)
        if whole is not None:
            name = f"image{len(images) + 1}"
            container[key] = {STORED_IMAGE: name}
            images.append((name, *whole))
            continue
        pieces: list[str] = []
        last = 0
        for start, end, image in _runs(text):
            name = f"image{len(images) + 1}"
            pieces += [text[last:start], f"{STORED_IMAGE}:{name}"]
            last = end
            images.append((name, *image))
        if pieces:
            container[key] = "".join((*pieces, text[last:]))
    return images


def _runs(text: str) -> Iterator[tuple[int, int, tuple[str, bytes]]]:
    """``(start, end, (content type, data))`` of each image in ``text`` as a run of base64, in order. The run may be
    broken by ``_RUN_BREAK``s (taken out before it is decoded); it may begin on one of its first lines and end on one
    of its last ones, when lines of other text that look like base64 are glued to it: an end that closes a whole
    base64 group (four characters) is preferred, from the run's end backwards, so a line glued after an image is left
    in the text (review ab: "end" became "enc", and a line of one character kept the image from decoding); else the
    whole run as it came (missing padding added)."""
    # The text without its breaks; where each piece starts in both (to map a run back to the text); where lines start.
    pieces: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    lines: list[int] = []
    at = joined = 0
    for brk in re.finditer(_RUN_BREAK, text):
        if brk.start() > at:
            pieces.append(text[at:brk.start()])
            starts.append(joined)
            origins.append(at)
            joined += brk.start() - at
        if brk.group() != "\\" and (not lines or lines[-1] != joined):  # a line break, not a "/"'s escape
            lines.append(joined)
        at = brk.end()
    pieces.append(text[at:])
    starts.append(joined)
    origins.append(at)
    unbroken = "".join(pieces)

    def original(index: int) -> int:
        piece = bisect.bisect_right(starts, index) - 1
        return origins[piece] + index - starts[piece]

    for match in re.finditer(_BASE64_RUN, unbroken):
        begin, end = match.span()
        first, last = bisect.bisect_right(lines, begin), bisect.bisect_left(lines, end)
        begins = (begin, *lines[first:min(last, first + _RUN_LINES_TRIED)])
        ends = (end, *reversed(lines[max(first, last - _RUN_LINES_TRIED):last]))
        found = _first_image(unbroken, begins, ends)
        if found is not None:
            run_begin, run_end, image = found
            start = original(run_begin)
            if start and text.startswith("\\/", start - 1):  # the escape of its first "/" goes with it
                start -= 1
            yield start, original(run_end - 1) + 1, image


#: The last bytes of a whole image of a format that has them: an end that decodes to them is the image's own.
_TRAILERS = {"image/jpeg": b"\xff\xd9", "image/png": b"IEND\xaeB`\x82"}


def _first_image(text: str, begins: Sequence[int], ends: Sequence[int]) -> tuple[int, int, tuple[str, bytes]] | None:
    """The first ``(begin, end, image)`` of ``text[begin:end]`` that is an image: begins in order; ends closing a whole
    base64 group first (in order), then the first end whatever its length; of those, the first whose image ends as
    its format ends (``_TRAILERS``: text of whole groups glued after it is then left out), else the first."""
    for begin in begins:
        if Image("", text[begin:begin + 64]).content_type == OCTET_STREAM:
            continue  # not an image's first bytes: no end will do
        payload = text.index(",", begin) + 1 if text.startswith("data:", begin) else begin
        whole_groups = [end for end in ends if end > payload and (end - payload) % 4 == 0]
        first = None
        for end in dict.fromkeys((*whole_groups, ends[0])):
            image = _image_of(text[begin:end])
            if image is None:
                continue
            trailer = _TRAILERS.get(image[0])
            if trailer is not None and image[1].endswith(trailer):
                return begin, end, image
            first = first or (begin, end, image)
        if first is not None:
            return first
    return None
