"""The ``ObjectStore`` contract, on every backend: a directory, and ``OssObjectStore`` (the official OSS SDK) over
HTTP against the OSS double (``tools.doubles.oss``, signatures verified, SSE-KMS required). Directory-only
behaviour (atomic replace, no temporary files, empty directories removed) is tested on ``directory``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.signing import Credentials
from shared.storage import DirectoryObjectStore, InvalidKey, ObjectNotFound, ObjectStore, OssObjectStore, validate_key
from tools.doubles.oss import OssDouble

OSS_CREDS = Credentials("LTAI-contract", "contract-secret", "contract-sts-token")


@pytest.fixture
def directory(tmp_path: Path) -> DirectoryObjectStore:
    return DirectoryObjectStore(tmp_path / "objects")


@pytest.fixture(params=["directory", "oss-double"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "directory":
        yield DirectoryObjectStore(tmp_path / "objects")
        return
    creds = OSS_CREDS
    with OssDouble(
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
        security_token=creds.security_token,
        bucket="kyc-contract",
        page_limit=2,  # so every listing below pages
    ) as double:
        yield OssObjectStore(
            bucket="kyc-contract",
            region=double.region,
            credentials=creds,
            endpoint=double.endpoint,
            prefix="results-prefix",
            retry_max_attempts=1,
        )


def test_store_satisfies_protocol(objects: ObjectStore) -> None:
    assert isinstance(objects, ObjectStore)


def test_put_then_get_returns_bytes(objects: ObjectStore) -> None:
    objects.put("results/abc/result.json", b'{"x":1}', "application/json")
    assert objects.get("results/abc/result.json") == b'{"x":1}'


def test_put_again_replaces_content(objects: ObjectStore) -> None:
    objects.put("k", b"one", "text/plain")
    objects.put("k", b"two", "text/plain")
    assert objects.get("k") == b"two"


def test_put_leaves_no_temporary_files(directory: DirectoryObjectStore) -> None:
    directory.put("a/b/c", b"x", "text/plain")
    assert [p.name for p in (Path(directory.root) / "a" / "b").iterdir()] == ["c"]


def test_failed_write_keeps_old_content(directory: DirectoryObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = directory
    objects.put("k", b"old", "text/plain")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        objects.put("k", b"new", "text/plain")
    monkeypatch.undo()
    assert objects.get("k") == b"old"
    assert objects.list("") == ["k"]


def test_get_missing_raises_object_not_found(objects: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        objects.get("results/none")


def test_exists_reflects_presence(objects: ObjectStore) -> None:
    objects.put("a/b", b"x", "text/plain")
    assert (objects.exists("a/b"), objects.exists("a/c"), objects.exists("a")) == (True, False, False)


def test_list_is_string_prefix_and_sorted(objects: ObjectStore) -> None:
    for key in ("r/2/a", "r/1/b", "r/1/a", "r/10/a", "s/1"):
        objects.put(key, b"x", "text/plain")
    assert objects.list("r/1") == ["r/1/a", "r/1/b", "r/10/a"]
    assert objects.list("r/1/") == ["r/1/a", "r/1/b"]


def test_delete_prefix_counts_and_removes_only_matching(objects: ObjectStore) -> None:
    for key in ("r/1/a", "r/1/b", "r/2/a"):
        objects.put(key, b"x", "text/plain")
    assert objects.delete_prefix("r/1/") == 2
    assert objects.list("") == ["r/2/a"]


def test_delete_prefix_removes_emptied_directories(directory: DirectoryObjectStore) -> None:
    for key in ("r/1/a", "r/1/b", "r/2/a"):
        directory.put(key, b"x", "text/plain")
    directory.delete_prefix("r/1/")
    assert not (Path(directory.root) / "r" / "1").exists()


def test_delete_missing_is_not_an_error(objects: ObjectStore) -> None:
    objects.delete("nothing/here")


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a/../b", "..", "a/./b", "a//b", "a/", "a\\b", "a\x00b", "a\nb", "x" * 1024, "a.kyc-tmp"],
)
def test_invalid_keys_are_rejected(objects: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        objects.put(key, b"x", "text/plain")


def test_invalid_key_message_does_not_echo_key() -> None:
    with pytest.raises(InvalidKey) as info:
        validate_key("/secret-passport-A1234567")
    assert "A1234567" not in str(info.value)


def test_unicode_keys_are_accepted(objects: ObjectStore) -> None:
    objects.put("results/证件/a.json", b"x", "application/json")
    assert objects.list("results/") == ["results/证件/a.json"]
