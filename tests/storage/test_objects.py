"""The ``ObjectStore`` contract, on every backend: a directory, and ``OssObjectStore`` (the official OSS SDK) over
HTTP against the OSS double (``tools.doubles.oss``, signatures verified, SSE-KMS required). Directory-only
behaviour (atomic replace, no temporary files, empty directories removed) is tested on ``directory``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.ids import result_prefix
from shared.signing import Credentials
from shared.storage import (
    DirectoryObjectStore,
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    OssObjectStore,
    StorageError,
    validate_key,
)
from tests.fakes import JPEG
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
    with pytest.raises(StorageError):
        objects.put("k", b"new", "text/plain")
    monkeypatch.undo()
    assert objects.get("k") == b"old"
    assert objects.list("") == ["k"]


def test_a_put_whose_file_an_erasure_deleted_meanwhile_fails_as_a_transient_storage_error(
    directory: DirectoryObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kyc erase`` (delete_prefix) deletes the temporary file of a put still writing: the put fails like a put
    OSS refused (a callback answers 503 and is retried), not with an OSError (a 500), and leaves nothing."""
    real_replace = os.replace

    def erased_meanwhile(src: str, dst: str) -> None:
        directory.delete_prefix("results/v1/")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", erased_meanwhile)
    with pytest.raises(StorageError) as raised:
        directory.put("results/v1/doc.jpg", JPEG, "image/jpeg")
    assert raised.value.transient
    assert raised.value.code == "ENOENT"
    assert "results/v1" not in str(raised.value)
    monkeypatch.undo()
    assert directory.list("results/") == []


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


def test_deleting_the_last_object_of_a_folder_removes_the_folder_and_keeps_the_store_s_root(tmp_path: Path) -> None:
    """No folder named for a verification is left once its objects are deleted, and the store's own root stays."""
    store = DirectoryObjectStore(tmp_path / "objects")
    store.put(f"{result_prefix(MBID)}result.json", b"{}", "application/json")
    store.delete(f"{result_prefix(MBID)}result.json")
    assert list((tmp_path / "objects").iterdir()) == []


def test_an_object_file_is_readable_by_its_owner_only(directory: DirectoryObjectStore) -> None:
    """It holds a person's document images and identity, as the SQLite files hold their masked rows: 0600."""
    directory.put("results/abc/idImage.jpg", JPEG, "image/jpeg")
    assert oct((Path(directory.root) / "results" / "abc" / "idImage.jpg").stat().st_mode & 0o777) == oct(0o600)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which a directory made without a mode is 0755 (listable by every local user)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("umask_022")
def test_every_directory_an_object_makes_is_its_owner_s_only(tmp_path: Path) -> None:
    """A directory's name is a verification's id: the store's root and each level a put makes are 0700, not only
    the last one (``os.makedirs`` gives its mode to the leaf alone)."""
    store = DirectoryObjectStore(tmp_path / "data" / "objects")
    store.put("results/abc/idImage.jpg", JPEG, "image/jpeg")
    root = Path(store.root)
    modes = {str(path.relative_to(tmp_path)): oct(path.stat().st_mode & 0o777)
             for path in (root, root / "results", root / "results" / "abc")}
    assert set(modes.values()) == {oct(0o700)}, modes


@pytest.mark.usefixtures("umask_022")
def test_a_put_after_its_directories_were_pruned_makes_them_again_private(directory: DirectoryObjectStore) -> None:
    directory.put("results/abc/idImage.jpg", JPEG, "image/jpeg")
    directory.delete_prefix("results/")
    directory.put("results/abc/idImage.jpg", JPEG, "image/jpeg")
    assert directory.get("results/abc/idImage.jpg") == JPEG
    assert oct((Path(directory.root) / "results").stat().st_mode & 0o777) == oct(0o700)


def test_a_prefix_that_leaves_the_store_is_refused_and_touches_nothing_outside(tmp_path: Path) -> None:
    store = DirectoryObjectStore(tmp_path / "objects")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the store's")
    for call in (store.list, store.delete_prefix):
        with pytest.raises(InvalidKey):
            call("../")
    assert outside.read_text() == "not the store's"


def test_a_put_retries_when_an_erasure_removes_its_folder_before_it_opens_its_file(
    directory: DirectoryObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open
    pruned: list[str] = []

    def pruned_first(path: str, flags: int, *args: int) -> int:
        if str(path).endswith(".kyc-tmp") and not pruned:
            pruned.append(path)
            raise FileNotFoundError(path)  # what a concurrent delete_prefix's pruning of the folder leads to
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", pruned_first)
    directory.put("results/abc/result.json", b"{}", "application/json")
    monkeypatch.undo()
    assert pruned and directory.get("results/abc/result.json") == b"{}"


def test_delete_missing_is_not_an_error(objects: ObjectStore) -> None:
    objects.delete("nothing/here")


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a/../b", "..", "a/./b", "a//b", "a/", "a\\b", "a\x00b", "a\nb", "a\x7fb", "x" * 1024, "a.kyc-tmp"],
)
def test_invalid_keys_are_rejected(objects: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        objects.put(key, b"x", "text/plain")


def test_a_key_is_measured_in_utf8_bytes_up_to_oss_s_1023() -> None:
    """OSS: "The name must be 1 to 1023 bytes in length" (UTF-8): 200-byte segments, within a file name's 255."""
    segments = "/".join(["é" * 100] * 5)  # 1004 bytes, 504 characters
    longest = f"{segments}/{'x' * 18}"
    assert len(longest.encode()) == 1023 and validate_key(longest) == longest
    with pytest.raises(InvalidKey):
        validate_key(longest + "x")  # 1024 bytes, 524 characters


def test_get_of_a_folder_or_of_a_key_under_an_object_is_not_found(objects: ObjectStore) -> None:
    objects.put("a/b/c", b"x", "text/plain")
    for key in ("a/b", "a/b/c/d"):
        with pytest.raises(ObjectNotFound):
            objects.get(key)


def test_deleting_a_key_under_an_object_is_not_an_error_and_keeps_the_object(objects: ObjectStore) -> None:
    objects.put("a/b", b"x", "text/plain")
    objects.delete("a/b/c")
    assert objects.get("a/b") == b"x"


def test_invalid_key_message_does_not_echo_key() -> None:
    with pytest.raises(InvalidKey) as info:
        validate_key("/secret-passport-A1234567")
    assert "A1234567" not in str(info.value)


def test_unicode_keys_are_accepted(objects: ObjectStore) -> None:
    objects.put("results/证件/a.json", b"x", "application/json")
    assert objects.list("results/") == ["results/证件/a.json"]


# -- the directory store's temporary files and walks (review kk) -------------------------------------------------

MBID = "ab" * 16
KEY = f"{result_prefix(MBID)}0123456789abcdef0123/idImage.jpg"

_KILLED_MID_PUT = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[3])
from shared.storage import DirectoryObjectStore
store = DirectoryObjectStore(sys.argv[1])
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # killed once the bytes are written, before the rename
store.put(sys.argv[2], bytes.fromhex(sys.stdin.read()), "image/jpeg")
"""


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_an_image_written_by_a_process_killed_mid_put_is_deleted_with_its_verification(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_PUT, str(root), KEY, str(Path(__file__).resolve().parents[2])],
        input=JPEG.hex(), text=True, capture_output=True, check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    (leftover,) = (root / "results" / MBID).rglob("*.kyc-tmp")  # the premise: the killed put left its bytes
    assert leftover.read_bytes() == JPEG

    DirectoryObjectStore(root).delete_prefix(result_prefix(MBID))  # what erasure and retention call

    left = _files_under(root / "results" / MBID) if (root / "results" / MBID).exists() else []
    assert left == [], f"an erased verification's image bytes left on disk: {left}"


def test_a_put_still_writing_is_not_listed_and_an_erasure_counts_only_objects(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = DirectoryObjectStore(root)
    store.put(f"{result_prefix(MBID)}result.json", b"{}", "application/json")
    writing = root / "results" / MBID / f".idImage.jpg.{'0' * 16}.kyc-tmp"  # as put names its temporary file
    writing.write_bytes(JPEG)
    assert store.list(result_prefix(MBID)) == [f"{result_prefix(MBID)}result.json"]
    assert store.delete_prefix(result_prefix(MBID)) == 1
    assert not writing.exists()


def test_deleting_one_verification_s_objects_reads_only_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No request or timer reads the whole store: a re-check of an erased row, an erasure and each row retention
    deletes call ``delete_prefix`` for one verification."""
    store = DirectoryObjectStore(tmp_path / "objects")
    for n in range(50):  # other verifications' results
        store.put(f"{result_prefix(f'{n:032x}')}0123456789abcdef0123/result.json", b"{}", "application/json")
    store.put(KEY, JPEG, "image/jpeg")
    visited: list[str] = []
    real_walk = os.walk

    def counting_walk(top, *args, **kwargs):  # type: ignore[no-untyped-def]
        for entry in real_walk(top, *args, **kwargs):
            visited.append(entry[0])
            yield entry

    monkeypatch.setattr(os, "walk", counting_walk)
    assert store.delete_prefix(result_prefix(MBID)) == 1
    others = [d for d in visited if MBID not in d and d.count(os.sep) > str(store.root).count(os.sep) + 1]
    assert others == [], f"walked {len(visited)} directories, {len(others)} of other verifications"
