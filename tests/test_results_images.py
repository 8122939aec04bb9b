"""shared.results: lazily decoded images (sniffing, caching, invalid base64)."""

from __future__ import annotations

import base64
import binascii
import re
import sys
from unittest.mock import patch

import pybase64
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import doctypes
from shared.results import Image, ImageDecodeError, ResultParseError, parse_check_result
from shared.results.images import FAST_FROM
from tests.test_results_support import (
    FAKE_BMP,
    FAKE_GIF,
    FAKE_JPEG,
    FAKE_OTHER,
    FAKE_PNG,
    FAKE_WEBP,
    OCR_BY_DOC_TYPE,
    b64,
    make_body,
)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (FAKE_JPEG, "image/jpeg"),
        (FAKE_PNG, "image/png"),
        (FAKE_GIF, "image/gif"),
        (FAKE_WEBP, "image/webp"),
        (FAKE_BMP, "image/bmp"),
        (FAKE_OTHER, "application/octet-stream"),
    ],
)
def test_content_type_is_sniffed_from_magic_bytes(data: bytes, content_type: str) -> None:
    assert Image("idImage", b64(data)).content_type == content_type


@pytest.mark.parametrize("form", [b"WAVE", b"AVI "])
def test_a_riff_container_that_is_not_webp_is_not_taken_for_an_image(form: bytes) -> None:
    """Review bh: WebP is a RIFF container whose form type is ``WEBP``; audio or video in RIFF (WAVE, AVI) is not an
    image, so it is neither labelled image/webp nor taken out of the record as a picture (``images_by_content``
    keeps only texts whose first bytes are an image's). No test had a RIFF that is not WebP."""
    riff = b"RIFF\x24\x00\x00\x00" + form + b"fmt " + b"\x00" * 20
    assert Image("idImage", b64(riff)).content_type == "application/octet-stream"


def test_content_type_is_sniffed_without_decoding_everything() -> None:
    image = Image("idImage", b64(FAKE_PNG) + "!!!garbage after the head!!!")
    assert image.content_type == "image/png"


def test_content_type_of_undecodable_text_is_octet_stream() -> None:
    assert Image("idImage", "!!!!").content_type == "application/octet-stream"


def test_data_is_decoded() -> None:
    assert Image("idImage", b64(FAKE_JPEG)).data == FAKE_JPEG


def test_data_is_decoded_once_and_cached() -> None:
    image = Image("idImage", b64(FAKE_JPEG))
    assert image.data is image.data


def test_data_with_line_breaks_and_data_uri_prefix_is_decoded() -> None:
    text = "data:image/png;base64," + base64.encodebytes(FAKE_PNG).decode()
    assert Image("faceImg", text).data == FAKE_PNG


def test_unpadded_and_url_safe_base64_is_decoded() -> None:
    data = b"\xfb\xff\xfe" + FAKE_OTHER
    text = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert Image("faceImg", text).data == data


def test_size_estimate_matches_decoded_length() -> None:
    for data in (FAKE_JPEG, FAKE_PNG, FAKE_GIF, b"a", b"ab", b"abc"):
        assert Image("idImage", b64(data)).size == len(data)


def test_invalid_base64_raises_typed_error_on_access() -> None:
    image = Image("idImage", "not*base64*at all")
    with pytest.raises(ImageDecodeError) as caught:
        _ = image.data
    assert caught.value.code == "InvalidImage"
    assert caught.value.field == "idImage"
    assert "not*base64" not in str(caught.value)
    assert isinstance(caught.value, ResultParseError)


def test_invalid_base64_does_not_fail_parsing() -> None:
    result = parse_check_result(make_body(ocr=OCR_BY_DOC_TYPE[doctypes.PASSPORT], id_info={"idImage": "*bad*"}))
    assert result.images.id_front is not None
    with pytest.raises(ImageDecodeError):
        _ = result.images.id_front.data


def test_images_are_found_in_ext_id_and_face_info() -> None:
    body = make_body(
        ocr=OCR_BY_DOC_TYPE[doctypes.MAINLAND_ID],
        id_info={"idImage": b64(FAKE_JPEG), "idBackImage": b64(FAKE_PNG)},
        face_info={"facePassed": "Y", "faceImg": b64(FAKE_GIF)},
    )
    images = parse_check_result(body).images
    assert images.id_front is not None and images.id_front.data == FAKE_JPEG
    assert images.id_back is not None and images.id_back.content_type == "image/png"
    assert images.face is not None and images.face.name == "faceImg"
    assert [image.name for image in images] == ["idImage", "idBackImage", "faceImg"]
    assert len(images) == 3


@pytest.mark.parametrize("key", ["faceImg", "faceImage", "facePicture"])
def test_face_image_is_accepted_under_each_candidate_name(key: str) -> None:
    images = parse_check_result(make_body(face_info={key: b64(FAKE_JPEG)})).images
    assert images.face is not None
    assert images.face.name == key
    assert images.get(key) is images.face


def test_face_image_is_not_kept_in_face_raw() -> None:
    result = parse_check_result(make_body(face_info={"facePassed": "Y", "faceImg": b64(FAKE_JPEG)}))
    assert result.face.raw == {"facePassed": "Y"}


def test_images_are_not_decoded_by_parsing() -> None:
    result = parse_check_result(make_body(face_info={"faceImg": b64(FAKE_JPEG)}))
    face = result.images.face
    assert face is not None
    assert face._data is None  # nothing decoded until .data is read
    _ = face.data
    assert face._data == FAKE_JPEG


def test_empty_image_strings_are_ignored() -> None:
    result = parse_check_result(make_body(id_info={"idImage": ""}, face_info={"faceImg": "  "}))
    assert not result.images
    assert result.images.get("idImage") is None


def test_image_repr_does_not_show_content() -> None:
    text = b64(FAKE_JPEG)
    assert text[:12] not in repr(Image("idImage", text))


# Large images are decoded by pybase64, small texts by the standard library: both must read every text alike.
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _stdlib_image_bytes(text: str) -> bytes | None:
    """What FC's Python 3.10 made of an image's text (URL-safe alphabet mapped, missing padding added) with
    ``base64.b64decode(validate=True)``, whose body there is this regular expression and ``a2b_base64`` (None: it
    refuses it). Python 3.11's strict decoder differs: it accepts "=" after a whole group."""
    text = text.replace("-", "+").replace("_", "/")
    if not text.isascii():
        return None
    padded = (text + "=" * (-len(text) % 4)).encode("ascii")
    if not re.fullmatch(rb"[A-Za-z0-9+/]*={0,2}", padded):
        return None
    try:
        return binascii.a2b_base64(padded)
    except binascii.Error:
        return None


def _image_bytes(text: str) -> bytes | None:
    try:
        return Image("idImage", text).data
    except ImageDecodeError:
        return None


@st.composite
def _large_image_texts(draw: st.DrawFn) -> str:
    """Valid base64 of at least ``FAST_FROM`` characters, then maybe damaged in one place."""
    data = draw(st.binary(min_size=FAST_FROM, max_size=FAST_FROM + 64))
    text = base64.b64encode(data).decode("ascii")
    damage = draw(st.sampled_from(["none", "replace", "insert", "cut", "pad"]))
    at = draw(st.integers(0, len(text) - 1))
    char = draw(st.sampled_from([*"=!.*é\x00\x7f", "\u0661", draw(st.sampled_from(_B64_ALPHABET))]))
    if damage == "replace":
        text = text[:at] + char + text[at + 1:]
    elif damage == "insert":
        text = text[:at] + char + text[at:]
    elif damage == "cut":
        text = text[:at] + text[at + 1:]
    elif damage == "pad":
        text = text.rstrip("=") + "=" * draw(st.integers(0, 3))
    return text


@settings(max_examples=300, deadline=None)
@given(_large_image_texts())
def test_a_large_image_decodes_exactly_as_the_standard_library_decodes_it(text: str) -> None:
    assert _image_bytes(text) == _stdlib_image_bytes(text)


def test_a_large_image_is_decoded_by_pybase64() -> None:
    data = bytes(range(256)) * (FAST_FROM // 256 + 1)
    with patch("pybase64.b64decode", wraps=pybase64.b64decode) as decode:
        assert Image("idImage", base64.b64encode(data).decode()).data == data
    assert decode.call_count == 1


@pytest.mark.parametrize("size", [12, FAST_FROM * 2], ids=["standard library", "pybase64"])
def test_padding_after_a_whole_image_is_refused_by_either_decoder(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    with pytest.raises(ImageDecodeError):
        _ = Image("idImage", base64.b64encode(data[: size - size % 3]).decode() + "==").data


def test_a_large_image_is_decoded_by_the_standard_library_when_pybase64_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pybase64", None)  # import raises ImportError
    data = bytes(range(256)) * (FAST_FROM // 256 + 1)
    assert Image("idImage", base64.b64encode(data).decode()).data == data


@pytest.mark.parametrize("text", ["=", "====", "QQQ==", "QUFB" * 1100 + "QQQ=="])
def test_excess_padding_is_rejected_as_before(text: str) -> None:
    # Review finding: padding only, or more "=" than a base64 group has, is refused (it was; "=" had become a stored,
    # empty image).
    with pytest.raises(ImageDecodeError):
        _ = Image("idImage", text).data
