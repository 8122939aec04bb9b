"""A versioned results bucket (``KYC_BUCKET_VERSIONING=true``): deleting a verification's objects deletes every version
of them, over the wire, against the OSS double's versioning ("Delete marker", "ListObjectVersions")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shared.fetcher import delete_kept_result
from shared.ids import answer_prefix, result_prefix
from shared.storage import ObjectNotFound, OssObjectStore, StorageError
from shared.storage.settings import StorageSettings
from tests.fakes import Stack

from .conftest import BUCKET, CREDS, REGION
from .test_oss_wire import meet_at_the_double

PREFIX = "results/"


@pytest.fixture
def versioned() -> Iterator[Any]:
    from tools.doubles.oss import OssDouble

    with OssDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret,
                   security_token=CREDS.security_token, bucket=BUCKET, region=REGION, page_limit=2,
                   versioning=True) as double:
        yield double


def _store(double: Any, *, versioned: bool = True) -> OssObjectStore:
    return OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=double.endpoint, prefix=PREFIX,
                          versioned=versioned)


def _data_versions(double: Any, prefix: str) -> list[str]:
    return [f"{key}@{v.version_id}" for key, versions in sorted(double.versions().items()) if key.startswith(prefix)
            for v in versions]


@contextmanager
def busy_for(double: Any, when: Callable[[Any], bool]) -> Iterator[None]:
    """The double answers ``InternalError`` (500) to every request ``when`` picks, for the duration."""
    handle = double.handle

    def busy(request: Any) -> Any:
        return double.render_error("InternalError", request) if when(request) else handle(request)

    double.handle = busy
    try:
        yield
    finally:
        double.handle = handle


def test_deleting_a_prefix_on_a_versioned_bucket_leaves_no_version_and_no_marker(versioned: Any) -> None:
    store = _store(versioned)
    store.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
    store.put("mbid1/result.json", b'{"v": 1}', "application/json")
    store.put("mbid1/result.json", b'{"v": 2}', "application/json")  # a retried fetch: one more version
    store.put("mbid2/result.json", b"{}", "application/json")
    assert len(_data_versions(versioned, PREFIX + "mbid1/")) == 3

    assert store.delete_prefix("mbid1/") == 2  # the objects there were, as before
    assert _data_versions(versioned, PREFIX + "mbid1/") == []
    assert len(_data_versions(versioned, PREFIX + "mbid2/")) == 1  # another verification's: untouched


def test_a_versioned_prefix_s_versions_are_deleted_side_by_side() -> None:
    from tools.doubles.oss import OssDouble

    with OssDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret,
                   security_token=CREDS.security_token, bucket=BUCKET, region=REGION, versioning=True) as double:
        store = _store(double)
        store.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
        store.put("mbid1/result.json", b'{"v": 1}', "application/json")
        store.put("mbid1/result.json", b'{"v": 2}', "application/json")
        meet_at_the_double(double, "DeleteObject", 3)  # the three versions, by their version ids, at once
        assert store.delete_prefix("mbid1/") == 2
        assert _data_versions(double, PREFIX + "mbid1/") == []


def test_versions_hidden_behind_an_earlier_delete_marker_are_deleted_too(versioned: Any) -> None:
    unversioned_client = _store(versioned, versioned=False)
    unversioned_client.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
    unversioned_client.delete("mbid1/idImage.jpg")  # a plain delete: a marker, the image stays as a version
    assert unversioned_client.list("mbid1/") == [] and len(_data_versions(versioned, PREFIX + "mbid1/")) == 2

    assert _store(versioned).delete_prefix("mbid1/") == 0
    assert _data_versions(versioned, PREFIX + "mbid1/") == []


def test_a_plain_delete_on_a_versioned_bucket_keeps_the_data_which_is_why_the_setting_exists(versioned: Any) -> None:
    store = _store(versioned, versioned=False)
    store.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
    assert store.delete_prefix("mbid1/") == 1
    (image, marker) = versioned.versions()[PREFIX + "mbid1/idImage.jpg"]
    assert image.obj is not None and image.obj.data == b"\xff\xd8 passport" and marker.obj is None


def test_erasure_on_a_versioned_bucket_leaves_no_version_of_the_persons_objects(versioned: Any, tmp_path: Any) -> None:
    stack = Stack(tmp_path)
    try:
        objects = _store(versioned)
        record = stack.pending(status="PASSED", passed="Y")
        objects.put(f"{result_prefix(record.merchant_biz_id)}idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
        document = f"{answer_prefix(record.merchant_biz_id, '1-a')}result.json"
        objects.put(document, b'{"identity": "..."}', "application/json")
        objects.put(document, b'{"identity": "..."}', "application/json")

        assert delete_kept_result(stack.store, objects, record.merchant_biz_id) == 2
        assert stack.store.get(record.merchant_biz_id) is None
        assert _data_versions(versioned, PREFIX + result_prefix(record.merchant_biz_id)) == []
    finally:
        stack.close()


def test_the_setting_comes_from_kyc_bucket_versioning() -> None:
    env = {"KYC_BACKEND": "aliyun", "ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk",
           "KYC_TABLESTORE_ENDPOINT": "https://i.cn-hongkong.ots.aliyuncs.com", "KYC_TABLESTORE_INSTANCE": "i",
           "KYC_OSS_REGION": "cn-hongkong", "KYC_OSS_BUCKET": "b", "KYC_MNS_ENDPOINT": "https://1.mns.example.com"}
    assert StorageSettings.from_env(env).oss_versioned is False
    assert StorageSettings.from_env({**env, "KYC_BUCKET_VERSIONING": "true"}).oss_versioned is True


def test_a_failed_version_delete_never_uncovers_the_version_behind_its_delete_marker() -> None:
    """Found by review ax: a versioned prefix's deletes ran side by side, so a delete marker could go while the
    version it hides stayed (its own delete failed): the erased object was readable again until the retry."""
    from tools.doubles.oss import OssDouble

    with OssDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret,
                   security_token=CREDS.security_token, bucket=BUCKET, region=REGION,
                   versioning=True) as double:  # fmt: skip
        plain = _store(double, versioned=False)
        plain.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
        plain.delete("mbid1/idImage.jpg")  # a marker in front; the image stays as a noncurrent version
        (image, _marker) = double.versions()[PREFIX + "mbid1/idImage.jpg"]
        with pytest.raises(ObjectNotFound):
            plain.get("mbid1/idImage.jpg")

        def image_version_delete(request: Any) -> bool:  # OSS busy for that one DeleteObject, every attempt
            return double.operation_of(request) == "DeleteObject" and \
                request.query_dict().get("versionId") == image.version_id  # fmt: skip

        with busy_for(double, image_version_delete), pytest.raises(StorageError):
            _store(double).delete_prefix("mbid1/")  # an erasure: it failed, and will be retried

        # Until the retry, the erased image must stay hidden: not be the bucket's current object again.
        with pytest.raises(ObjectNotFound):
            plain.get("mbid1/idImage.jpg")


#: What a key holds before the erasure, with two entries a listing page: its entries span two pages.
SPLIT_HISTORIES = {
    "a marker in front of two versions": ("put", "put", "delete"),
    "two markers in front of a version (a first page of markers alone)": ("put", "delete", "delete"),
}


@pytest.mark.parametrize("history", SPLIT_HISTORIES.values(), ids=list(SPLIT_HISTORIES))
def test_an_erasure_cut_off_after_its_first_page_leaves_the_erased_object_hidden(
    versioned: Any, history: tuple[str, ...]
) -> None:
    """The rule above (a marker goes only once the versions behind it are gone) across listing pages (OSS: 1000
    entries a page; two here). Found by review az: a key whose entries end on the next page had its marker deleted
    in round 1 while an older version waited for round 2; found by review ba: a page of that key's markers alone
    were all deleted. Should round 2 fail (its listing here), the erased object was readable again until the
    deletion is retried. Now the page's last key keeps its markers (one of them when the page holds nothing else)."""
    double = versioned
    plain = _store(double, versioned=False)
    for n, write in enumerate(history):
        if write == "put":
            plain.put("mbid1/idImage.jpg", b"\xff\xd8 passport %d" % n, "image/jpeg")
        else:
            plain.delete("mbid1/idImage.jpg")
    with pytest.raises(ObjectNotFound):
        plain.get("mbid1/idImage.jpg")

    listings = []

    def second_listing(request: Any) -> bool:  # every attempt of round 2 (the SDK retries a 500)
        if double.operation_of(request) == "ListObjectVersions":
            listings.append(request)
        return len(listings) >= 2

    with busy_for(double, second_listing), pytest.raises(StorageError):
        _store(double).delete_prefix("mbid1/")  # an erasure: it failed, and will be retried

    with pytest.raises(ObjectNotFound):  # until the retry, the erased image stays hidden
        plain.get("mbid1/idImage.jpg")


def test_a_key_whose_first_listing_page_holds_only_its_delete_markers_is_still_erased_in_full(versioned: Any) -> None:
    """review bi: a page of one key's markers alone (two deletes in front of a version, two entries a page) keeps one
    of them for a later round and deletes the others: progress. Keeping them all, no round would ever delete
    anything, and the erasure would fail at every try while the person's image stays in the bucket."""
    plain = _store(versioned, versioned=False)
    plain.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
    plain.delete("mbid1/idImage.jpg")
    plain.delete("mbid1/idImage.jpg")
    assert len(_data_versions(versioned, PREFIX + "mbid1/")) == 3

    assert _store(versioned).delete_prefix("mbid1/") == 0
    assert _data_versions(versioned, PREFIX + "mbid1/") == []


# --- found by mutating shared/storage/oss.py's versioned delete ---------------------------------------------------


def test_a_versioned_delete_refuses_a_prefix_that_is_not_one_verification_s(versioned: Any) -> None:
    store = _store(versioned)
    store.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
    with pytest.raises(ValueError):
        store.delete_prefix("../")
    assert len(_data_versions(versioned, PREFIX)) == 1


def test_a_prefix_whose_versions_keep_coming_back_fails_the_deletion_rather_than_report_it_done(
    versioned: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.storage.oss as oss_module

    monkeypatch.setattr(oss_module, "MAX_VERSION_ROUNDS", 3)
    store = _store(versioned)
    store.put("mbid1/idImage.jpg", b"\xff\xd8 passport", "image/jpeg")
    call = store._call

    def deletes_that_do_nothing(operation: str, method: str, request: Any) -> Any:
        return None if operation == "DeleteObject" else call(operation, method, request)  # written again meanwhile

    monkeypatch.setattr(store, "_call", deletes_that_do_nothing)
    with pytest.raises(StorageError, match="kept appearing"):
        store.delete_prefix("mbid1/")


def test_an_erasure_cut_off_after_its_first_page_leaves_the_page_s_last_key_hidden(versioned: Any) -> None:
    """Two keys on the first page (two entries a page): the first key's only version, the last key's delete marker,
    whose version waits on the next page. The marker must wait with it."""
    plain = _store(versioned, versioned=False)
    plain.put("mbid1/a.jpg", b"\xff\xd8 a", "image/jpeg")
    plain.put("mbid1/b.jpg", b"\xff\xd8 b", "image/jpeg")
    plain.delete("mbid1/b.jpg")
    listings = []

    def second_listing(request: Any) -> bool:
        if versioned.operation_of(request) == "ListObjectVersions":
            listings.append(request)
        return len(listings) >= 2

    with busy_for(versioned, second_listing), pytest.raises(StorageError):
        _store(versioned).delete_prefix("mbid1/")
    with pytest.raises(ObjectNotFound):
        plain.get("mbid1/b.jpg")
