"""A CheckResult or a failure nobody foresaw: everything the vendor sent is kept in the stored result, whatever its
shape, depth or image names, and one transaction's failure never holds back the others of a re-check batch or a
sweep."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.callback import hash_callback_token
from shared.handlers.result_fetcher import RecheckFailed, ResultFetcherApp
from shared.messages import RecheckMessage
from shared.results import ResultParseError
from shared.results.images import STORED_IMAGE, images_by_content
from shared.results.model import MAX_NESTING, parse_check_result
from tests.fakes import JPEG, PNG, T0, FakeCloudAuth, Stack, check_result_body
from tests.test_races import TOKEN, callback_event
from tests.test_recheck_chains import queue_event


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def _with_ext_id_info(ext_id_info: dict[str, Any]) -> dict[str, Any]:
    body = check_result_body("Y", images=False)
    body["Result"]["ExtIdInfo"] = jsonutil.dumps_str(ext_id_info)
    return body


# -- nothing the vendor sent is dropped from what is kept --------------------------------------------------------

_NESTED_OCR = '{"idNumber":"410************19","firstName":"SAMPLE",}'  # the vendor's documented trailing comma
_NESTED_SPOOF = '{"spoofResult":"Y","spoofType":["SCREEN_REMARK"],}'
_NESTED_EDIT = '{"editedField":"idNumber",}'


@pytest.mark.parametrize(
    ("section", "value", "needle"),
    [
        ("ocrIdInfo", _NESTED_OCR, "410************19"),
        ("ocrIdInfo", [{"idNumber": "410************19"}], "410************19"),
        ("spoofInfo", _NESTED_SPOOF, "SCREEN_REMARK"),
        ("ocrIdEditInfo", _NESTED_EDIT, "editedField"),
    ],
    ids=["ocr-malformed-json-text", "ocr-array", "spoof-malformed-json-text", "edit-malformed-json-text"],
)
def test_a_nested_section_that_is_not_a_json_object_is_kept_in_the_stored_result(
    stack: Stack, section: str, value: Any, needle: str
) -> None:
    """The stored result is the only copy once the vendor's is deleted: an unreadable nested section must be kept
    as sent (as an unreadable ExtIdInfo already is), not silently replaced by {}."""
    record = stack.pending()
    client = FakeCloudAuth(_with_ext_id_info({"ocrIdPassed": "Y", section: value}))
    outcome = stack.fetcher(client).fetch(record.merchant_biz_id)
    assert outcome.kind == "finalized"
    stored = stack.objects.get(stack.kept_result_key(record.merchant_biz_id)).decode()
    assert needle in stored, f"the vendor's {section} was dropped from the stored result"


# -- a CheckResult nested deeper than can be walked -------------------------------------------


def _deeply_nested(depth: int) -> str:
    return '{"a":' * depth + '"x"' + "}" * depth


@pytest.mark.parametrize("depth", [600, 1000])
def test_an_ext_info_nested_deeper_than_a_section_may_is_kept_as_the_vendor_s_text(stack: Stack, depth: int) -> None:
    """orjson reads up to 1024 levels: walking 600 of them to take images out exhausted Python's recursion limit,
    and encoding (or digesting) 1000 of them still did (a 500 at every try, the verdict never kept)."""
    record = stack.pending(callback_token_hash=hash_callback_token(TOKEN))
    body = check_result_body("Y", images=False)
    body["Result"]["ExtInfo"] = _deeply_nested(depth)
    app = ResultFetcherApp(stack.fetcher(FakeCloudAuth(body)))

    response = app.handle(callback_event(record.merchant_biz_id), None)

    assert response["statusCode"] == 200
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED"
    stored = jsonutil.loads(stack.objects.get(stack.kept_result_key(record.merchant_biz_id)))
    assert stored["result"]["extInfo"] == _deeply_nested(depth)


def test_an_ext_info_nested_as_deep_as_a_section_may_is_kept_parsed() -> None:
    body = check_result_body("Y", images=False)
    body["Result"]["ExtInfo"] = _deeply_nested(MAX_NESTING)
    assert parse_check_result(body).to_record()["extInfo"] == jsonutil.loads(_deeply_nested(MAX_NESTING))


def test_an_ext_id_info_nested_deeper_than_a_section_may_is_kept_as_the_vendor_s_text() -> None:
    body = check_result_body("Y", images=False)
    body["Result"]["ExtIdInfo"] = _deeply_nested(MAX_NESTING + 1)
    assert parse_check_result(body).to_record()["extIdInfo"] == _deeply_nested(MAX_NESTING + 1)


def test_an_answer_nested_deeper_than_a_section_may_is_unusable() -> None:
    body = '{"RequestId":"r","Result":{"Passed":"Y","ExtInfo":' + _deeply_nested(MAX_NESTING) + "}}"
    with pytest.raises(ResultParseError, match="nests deeper than 128 levels"):
        parse_check_result(body)


# -- an image is taken out only where it is saved ------------------------------------------------------------------

IMAGE = "SU1BR0VfQllURVNfT0ZfVEhFX0lEX0NBUkQ=" * 10  # stands for an image's base64


def _record(**result: Any) -> str:
    body = {"RequestId": "r", "Code": "Success", "Result": {"Passed": "Y", "SubCode": "200", **result}}
    return jsonutil.dumps_str(parse_check_result(body).to_record())


def test_an_image_under_a_name_that_is_not_saved_stays_in_its_section() -> None:
    """The face image's name is not documented: one under another name than the three saved is kept, not lost."""
    saved = "U0FWRUQ=" * 20
    face = jsonutil.dumps_str({"facePassed": "Y", "faceImg": saved, "faceImageBase64": IMAGE})
    ext = jsonutil.dumps_str({"ocrIdPassed": "Y", "idImage": saved, "idFrontImage": IMAGE,
                              "ocrIdInfo": {"portraitPhoto": IMAGE}})  # fmt: skip
    stored = _record(ExtFaceInfo=face, ExtIdInfo=ext)
    record = jsonutil.loads(stored)
    assert saved not in stored
    assert record["extFaceInfo"]["faceImageBase64"] == IMAGE
    assert record["extIdInfo"]["idFrontImage"] == IMAGE  # a second front image: only one is saved
    assert record["ocrIdInfo"]["portraitPhoto"] == IMAGE


def test_a_face_named_image_in_ext_id_info_stays_there_as_only_ext_face_info_s_is_saved() -> None:
    portrait, face = "UE9SVFJBSVQ=" * 20, "RkFDRQ==" * 30
    ext = jsonutil.dumps_str({"ocrIdPassed": "Y", "faceImg": portrait})
    stored = _record(ExtIdInfo=ext, ExtFaceInfo=jsonutil.dumps_str({"facePassed": "Y", "faceImg": face}))
    assert jsonutil.loads(stored)["extIdInfo"]["faceImg"] == portrait
    assert face not in stored


def test_an_image_the_fetcher_could_not_decode_stays_in_its_section_of_the_stored_result(stack: Stack) -> None:
    """Not saved as an object (it is listed in unreadableImages): the vendor's text must be kept somewhere."""
    record = stack.pending()
    body = check_result_body("Y", images=False)
    body["Result"]["ExtIdInfo"] = jsonutil.dumps_str({"ocrIdPassed": "Y", "idImage": "!!truncated!!"})
    body["Result"]["ExtFaceInfo"] = jsonutil.dumps_str({"facePassed": "Y", "faceImg": "%%not base64%%"})

    assert stack.fetcher(FakeCloudAuth(body)).fetch(record.merchant_biz_id).kind == "finalized"

    stored = jsonutil.loads(stack.objects.get(stack.kept_result_key(record.merchant_biz_id)))
    assert stored["unreadableImages"] == ["idImage", "faceImg"]
    assert stored["result"]["extIdInfo"]["idImage"] == "!!truncated!!"
    assert stored["result"]["extFaceInfo"]["faceImg"] == "%%not base64%%"


def test_a_nested_section_sent_as_the_json_text_of_an_array_is_kept_as_that_array() -> None:
    ext = jsonutil.dumps_str({"ocrIdPassed": "Y", "ocrIdInfo": jsonutil.dumps_str([{"idImage": IMAGE, "n": 1}])})
    assert jsonutil.loads(_record(ExtIdInfo=ext))["ocrIdInfo"] == [{"idImage": IMAGE, "n": 1}]


@pytest.mark.parametrize(("section", "empty"), [("ocrIdEditInfo", None), ("spoofInfo", {}), ("ocrIdInfo", {})])
@pytest.mark.parametrize("sent", [[], "[]"])
def test_an_empty_array_for_a_nested_section_is_stored_as_its_absence(section: str, empty: Any, sent: Any) -> None:
    ext = jsonutil.dumps_str({"ocrIdPassed": "Y", section: sent})
    assert jsonutil.loads(_record(ExtIdInfo=ext))[section] == empty


# -- one transaction's unforeseen failure holds back no other ---------------------------------------------------


def test_one_failing_recheck_does_not_hold_back_the_rest_of_its_batch_which_is_retried(stack: Stack) -> None:
    failing, healthy = stack.pending().merchant_biz_id, stack.pending().merchant_biz_id
    client = FakeCloudAuth(KeyError("nothing foresaw this"), check_result_body("Y", images=False))
    app = ResultFetcherApp(stack.fetcher(client))

    with pytest.raises(RecheckFailed):  # the trigger retries the batch: the failed one is not lost
        app.handle(queue_event(RecheckMessage(failing, 1), RecheckMessage(healthy, 1)), None)

    row = stack.store.get(healthy)
    assert row is not None and row.status == "PASSED"
    assert [mbid for mbid, _ in client.check_calls] == [failing, healthy]


def test_one_row_failing_unforeseen_does_not_stop_the_sweep_for_the_rows_after_it(stack: Stack) -> None:
    failing = stack.pending(created_at=T0 - 2000)
    healthy = stack.pending(created_at=T0 - 1000)
    client = FakeCloudAuth(KeyError("nothing foresaw this"), check_result_body("Y", images=False))

    report = stack.sweeper(stack.fetcher(client)).sweep()

    row = stack.store.get(healthy.merchant_biz_id)
    assert row is not None and row.status == "PASSED"
    assert report.errors == ["_recheck_pending:KeyError"]
    failed = stack.store.get(failing.merchant_biz_id)
    assert failed is not None and failed.status == "PENDING"


class _FailsUnforeseenFor(FakeCloudAuth):
    """CheckResult fails in a way nothing foresaw for the transactions of ``failing``; the others answer the
    script."""

    def __init__(self, failing: set[str], *script: Any) -> None:
        super().__init__(*script)
        self.failing = failing

    def check_result(self, merchant_biz_id: str, transaction_id: str, *, is_return_image: bool = False) -> Any:
        if merchant_biz_id in self.failing:
            self.check_calls.append((merchant_biz_id, transaction_id))
            raise RuntimeError("an answer nothing foresaw")
        return super().check_result(merchant_biz_id, transaction_id, is_return_image=is_return_image)


def test_a_row_failing_unforeseen_is_checked_again_with_backoff_and_the_error_recorded(stack: Stack) -> None:
    failing = stack.pending(created_at=T0 - 2000)
    stack.sweeper(stack.fetcher(_FailsUnforeseenFor({failing.merchant_biz_id}))).sweep()
    row = stack.store.get(failing.merchant_biz_id)
    assert row is not None and row.status == "PENDING"
    assert (row.check_count, row.error) == (1, "RuntimeError")
    assert row.next_check_at is not None and row.next_check_at > T0


def test_a_row_failing_unforeseen_is_abandoned_once_past_the_vendors_30_days(stack: Stack) -> None:
    failing = stack.pending(created_at=T0 - 31 * 86400)
    stack.sweeper(stack.fetcher(_FailsUnforeseenFor({failing.merchant_biz_id}))).sweep()
    row = stack.store.get(failing.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED"


def test_rows_failing_unforeseen_do_not_hold_the_sweeps_batch_at_every_pass(stack: Stack) -> None:
    """Two rows that always fail, the earliest due, and a batch of two: the healthy row behind them is still
    reached, because the failing rows are rescheduled like any other."""
    failing = {stack.pending(created_at=T0 - 5000 - i).merchant_biz_id for i in range(2)}
    healthy = stack.pending(created_at=T0 - 1000)
    client = _FailsUnforeseenFor(failing, check_result_body("Y", images=False))
    sweeper = stack.sweeper(stack.fetcher(client), batch_size=2)
    for _ in range(3):
        sweeper.sweep()
        stack.clock.advance(3600)
    row = stack.store.get(healthy.merchant_biz_id)
    assert row is not None and row.status == "PASSED"


# -- an image under a name nobody documented is stored apart by its content (review tt) -----------------------------

FACE_PHOTO = PNG + bytes(2048)  # kilobytes, as the vendor's images are
FACE_PHOTO_TEXT = base64.b64encode(FACE_PHOTO).decode()


def _with_an_unnamed_face(face_text: str) -> dict[str, Any]:
    body = check_result_body("Y", images=False)
    body["Result"]["ExtFaceInfo"] = jsonutil.dumps_str({"facePassed": "Y", "faceImageBase64": face_text})
    return body


def test_an_image_under_an_unknown_name_is_kept_as_an_object_of_its_own_not_inside_the_result_document(
    stack: Stack,
) -> None:
    """The stored document is what the notifier's role may read (template.yml): a face photo under a field name the
    parser does not know stayed inside it."""
    record = stack.pending()
    assert stack.fetcher(FakeCloudAuth(_with_an_unnamed_face(FACE_PHOTO_TEXT))).fetch(
        record.merchant_biz_id).kind == "finalized"

    raw = stack.objects.get(stack.kept_result_key(record.merchant_biz_id))
    document = jsonutil.loads(raw)
    assert FACE_PHOTO_TEXT[:200].encode() not in raw
    assert document["result"]["extFaceInfo"]["faceImageBase64"] == {STORED_IMAGE: "image1"}
    assert stack.objects.get(document["images"]["image1"]) == FACE_PHOTO


def test_an_unknown_image_that_does_not_decode_whole_loses_nothing() -> None:
    broken = FACE_PHOTO_TEXT[:-8] + "!!!!!!!!"  # an image's base64, then text that is not
    record = jsonutil.loads(_record(ExtFaceInfo=jsonutil.dumps_str({"faceImageBase64": broken})))
    ((name, _, data),) = images_by_content(record)
    assert base64.b64encode(data).decode() == FACE_PHOTO_TEXT[:-8]  # the run that decodes is stored apart
    assert record["extFaceInfo"]["faceImageBase64"] == f"{STORED_IMAGE}:{name}!!!!!!!!"  # the rest stays


def test_a_text_that_looks_like_an_image_but_does_not_decode_stays_where_it_came() -> None:
    broken = FACE_PHOTO_TEXT[:1025] + "!" + FACE_PHOTO_TEXT[1025:]  # its image run has a length no base64 has
    record = jsonutil.loads(_record(ExtFaceInfo=jsonutil.dumps_str({"faceImageBase64": broken})))
    assert images_by_content(record) == []
    assert record["extFaceInfo"]["faceImageBase64"] == broken  # never dropped


def test_images_found_by_content_are_named_by_their_place_not_by_the_vendor_s_key_order() -> None:
    photo = {"a": FACE_PHOTO_TEXT, "b": base64.b64encode(JPEG + bytes(2048)).decode()}
    first = images_by_content({"x": dict(photo)})
    second = images_by_content({"x": dict(reversed(photo.items()))})
    assert first == second and [name for name, _, _ in first] == ["image1", "image2"]


def test_a_long_text_that_is_not_an_image_stays_in_the_result() -> None:
    record = {"extInfo": {"note": "x" * 5000, "token": "QUFB" * 500}}
    assert images_by_content(record) == [] and record["extInfo"]["token"] == "QUFB" * 500


def _kept_document(stack: Stack, body: dict[str, Any]) -> bytes:
    record = stack.pending()
    assert stack.fetcher(FakeCloudAuth(body)).fetch(record.merchant_biz_id).kind == "finalized"
    return stack.objects.get(stack.kept_result_key(record.merchant_biz_id))


def test_an_image_in_a_section_kept_as_the_vendor_s_text_is_stored_apart(stack: Stack) -> None:
    """Review uu: a section kept as text (the vendor's trailing comma) held the image as a part of that text."""
    body = check_result_body("Y", images=False)
    body["Result"]["ExtFaceInfo"] = '{"facePassed":"Y","faceImageBase64":"' + FACE_PHOTO_TEXT + '",}'
    raw = _kept_document(stack, body)
    assert FACE_PHOTO_TEXT[:200].encode() not in raw
    document = jsonutil.loads(raw)
    assert document["result"]["extFaceInfo"] == '{"facePassed":"Y","faceImageBase64":"storedImage:image1",}'
    assert stack.objects.get(document["images"]["image1"]) == FACE_PHOTO


def test_an_image_in_a_json_string_inside_a_section_is_stored_apart(stack: Stack) -> None:
    body = check_result_body("Y", images=False)
    body["Result"]["ExtInfo"] = jsonutil.dumps_str(
        {"livenessDetail": jsonutil.dumps_str({"faceImageBase64": FACE_PHOTO_TEXT})})
    raw = _kept_document(stack, body)
    assert FACE_PHOTO_TEXT[:200].encode() not in raw


def test_images_whose_places_spell_alike_get_the_same_names_whatever_the_vendor_s_key_order() -> None:
    """Review uu: places joined with '/' could spell alike ('a/b' then 'c', 'a' then 'b/c')."""
    id_photo = base64.b64encode(JPEG + bytes(2048)).decode()

    def answer(reverse: bool) -> dict[str, Any]:
        items = [("a/b", {"c": FACE_PHOTO_TEXT}), ("a", {"b/c": id_photo})]
        return {"x": dict(reversed(items) if reverse else items)}

    first = [(name, ctype) for name, ctype, _ in images_by_content(answer(False))]
    assert first == [(name, ctype) for name, ctype, _ in images_by_content(answer(True))]


# -- an image whose base64 is broken in lines or by escaped slashes (review vv) -------------------------------------

#: JPEG and kilobytes of noise: its base64 has "/" and "+" throughout, as a photo's has.
NOISY_PHOTO = JPEG + random.Random(7).randbytes(6000)
NOISY_PHOTO_TEXT = base64.b64encode(NOISY_PHOTO).decode()


def test_an_image_wrapped_in_lines_in_a_section_kept_as_the_vendor_s_text_is_stored_apart() -> None:
    lines = [NOISY_PHOTO_TEXT[i:i + 76] for i in range(0, len(NOISY_PHOTO_TEXT), 76)]
    for line_break in ("\\r\\n", "\r\n", "\n"):  # the JSON escapes of a text kept as the vendor's, or real ones
        section = '{"facePassed":"Y","faceImageBase64":"' + line_break.join(lines) + '",}'
        record = {"extFaceInfo": section}
        ((_, _, data),) = images_by_content(record)
        assert data == NOISY_PHOTO
        assert record["extFaceInfo"] == '{"facePassed":"Y","faceImageBase64":"storedImage:image1",}'


def test_an_image_whose_slashes_are_json_escaped_is_stored_apart_with_its_escapes() -> None:
    section = '{"facePassed":"Y","faceImageBase64":"' + NOISY_PHOTO_TEXT.replace("/", "\\/") + '",}'
    record = {"extFaceInfo": section}
    ((_, _, data),) = images_by_content(record)
    assert data == NOISY_PHOTO
    assert record["extFaceInfo"] == '{"facePassed":"Y","faceImageBase64":"storedImage:image1",}'


def test_an_image_on_the_lines_after_other_text_is_stored_apart_and_the_text_kept() -> None:
    """The run glues the line before the image to it (it looks like base64 too): the image starts a line later."""
    lines = [NOISY_PHOTO_TEXT[i:i + 76] for i in range(0, len(NOISY_PHOTO_TEXT), 76)]
    record = {"note": "seebelow\n" + "\n".join(lines)}
    ((_, _, data),) = images_by_content(record)
    assert data == NOISY_PHOTO
    assert record["note"] == "seebelow\nstoredImage:image1"


#: A photo of a size a multiple of 3, ending as a JPEG ends: its base64 has no padding (a third of all images), so a
#: line of letters after it joins its run.
UNPADDED_PHOTO = JPEG + random.Random(7).randbytes(6001 - (len(JPEG) % 3)) + b"\xff\xd9"
UNPADDED_LINES = [base64.b64encode(UNPADDED_PHOTO).decode()[i:i + 76]
                  for i in range(0, len(base64.b64encode(UNPADDED_PHOTO)), 76)]  # fmt: skip


@pytest.mark.parametrize("after", ["end", "OK", "END.", "Y", "DONE"])
def test_a_line_of_text_after_an_unpadded_wrapped_image_stays_in_the_text(after: str) -> None:
    """Review ab: the line after the image was decoded into it ("end" came back as "enc"), or kept it from decoding
    at all ("Y": the image stayed in the document)."""
    assert len(UNPADDED_PHOTO) % 3 == 0
    record = {"note": "see below\n" + "\n".join(UNPADDED_LINES) + "\n" + after}
    ((_, _, data),) = images_by_content(record)
    assert data == UNPADDED_PHOTO
    assert record["note"] == f"see below\n{STORED_IMAGE}:image1\n{after}"
