from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.storage import DirectoryObjectStore, InvalidKey, ObjectNotFound, ObjectStore, validate_key


@pytest.fixture
def objects(tmp_path: Path) -> DirectoryObjectStore:
    return DirectoryObjectStore(tmp_path / "objects")


def test_store_satisfies_protocol(objects: DirectoryObjectStore) -> None:
    assert isinstance(objects, ObjectStore)


def test_put_then_get_returns_bytes(objects: DirectoryObjectStore) -> None:
    objects.put("results/abc/result.json", b'{"x":1}', "application/json")
    assert objects.get("results/abc/result.json") == b'{"x":1}'


def test_put_again_replaces_content(objects: DirectoryObjectStore) -> None:
    objects.put("k", b"one", "text/plain")
    objects.put("k", b"two", "text/plain")
    assert objects.get("k") == b"two"


def test_put_leaves_no_temporary_files(objects: DirectoryObjectStore) -> None:
    objects.put("a/b/c", b"x", "text/plain")
    assert [p.name for p in (objects.root / "a" / "b").iterdir()] == ["c"]


def test_failed_write_keeps_old_content(objects: DirectoryObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    objects.put("k", b"old", "text/plain")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        objects.put("k", b"new", "text/plain")
    monkeypatch.undo()
    assert objects.get("k") == b"old"
    assert objects.list("") == ["k"]


def test_get_missing_raises_object_not_found(objects: DirectoryObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        objects.get("results/none")


def test_exists_reflects_presence(objects: DirectoryObjectStore) -> None:
    objects.put("a/b", b"x", "text/plain")
    assert (objects.exists("a/b"), objects.exists("a/c"), objects.exists("a")) == (True, False, False)


def test_list_is_string_prefix_and_sorted(objects: DirectoryObjectStore) -> None:
    for key in ("r/2/a", "r/1/b", "r/1/a", "r/10/a", "s/1"):
        objects.put(key, b"x", "text/plain")
    assert objects.list("r/1") == ["r/1/a", "r/1/b", "r/10/a"]
    assert objects.list("r/1/") == ["r/1/a", "r/1/b"]


def test_delete_prefix_counts_and_removes_only_matching(objects: DirectoryObjectStore) -> None:
    for key in ("r/1/a", "r/1/b", "r/2/a"):
        objects.put(key, b"x", "text/plain")
    assert objects.delete_prefix("r/1/") == 2
    assert objects.list("") == ["r/2/a"]
    assert not (objects.root / "r" / "1").exists()


def test_delete_missing_is_not_an_error(objects: DirectoryObjectStore) -> None:
    objects.delete("nothing/here")


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a/../b", "..", "a/./b", "a//b", "a/", "a\\b", "a\x00b", "a\nb", "x" * 1024, "a.kyc-tmp"],
)
def test_invalid_keys_are_rejected(objects: DirectoryObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        objects.put(key, b"x", "text/plain")


def test_invalid_key_message_does_not_echo_key() -> None:
    with pytest.raises(InvalidKey) as info:
        validate_key("/secret-passport-A1234567")
    assert "A1234567" not in str(info.value)


def test_unicode_keys_are_accepted(objects: DirectoryObjectStore) -> None:
    objects.put("results/证件/a.json", b"x", "application/json")
    assert objects.list("results/") == ["results/证件/a.json"]
