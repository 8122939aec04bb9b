"""The OSS double's buckets and objects (in memory), the ListObjectsV2 page logic, and versioning.

Listing follows "ListObjectsV2 (GetBucketV2)" (OSS API reference): keys in ascending (byte) order, ``prefix``,
``start-after`` (exclusive), ``continuation-token`` (opaque; here the base64url of the last key or common prefix
returned, so the next page resumes after it), ``delimiter`` rolling keys up into ``CommonPrefixes`` (each counting once
against ``max-keys``), ``max-keys`` 1–1000 (default 100). A listing reads the bucket's sorted key index from the
first candidate onwards (``bisect``), never the whole bucket.

Versioning ("Object Storage Service: Versioning", "Delete marker", "DeleteObject", "ListObjectVersions
(GetBucketVersions)"), for a bucket made ``versioned``: each PutObject adds a version (its ``x-oss-version-id``); a
DeleteObject without a version ID adds a delete marker as the current version and leaves every earlier version in
place; one with ``versionId`` removes that version for good (when it was the current one, the one before it, unless
a marker, is current again); ListObjectVersions lists every version and marker by key, newest first, after
``key-marker``/``version-id-marker``. On a bucket never versioned, an object's version ID is ``null``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import itertools
import threading
from dataclasses import dataclass, field

import crcmod  # a dependency of alibabacloud_oss_v2

# CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones): what OSS returns as x-oss-hash-crc64ecma.
# Checked against the catalogue's check value (CRC of b"123456789" = 0x995DC9BBDF1939FA) and the SDK's Crc64.
_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)


def crc64ecma(data: bytes) -> int:
    return int(_crc64(data))


@dataclass(frozen=True)
class StoredObject:
    data: bytes = field(repr=False)
    content_type: str
    last_modified: float
    encryption: str | None = None
    encryption_key_id: str | None = None
    data_encryption: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # x-oss-meta-* headers, lower-case names

    @property
    def etag(self) -> str:
        """OSS's ETag of a simple upload: the upper-case hex MD5 of the content, quoted."""
        return f'"{hashlib.md5(self.data, usedforsecurity=False).hexdigest().upper()}"'

    @property
    def content_md5(self) -> str:
        return base64.b64encode(hashlib.md5(self.data, usedforsecurity=False).digest()).decode("ascii")

    @property
    def crc64(self) -> int:
        return crc64ecma(self.data)


@dataclass(frozen=True)
class ListPage:
    keys: list[tuple[str, StoredObject]]
    common_prefixes: list[str]
    next_token: str | None


class InvalidToken(ValueError):
    pass


NULL_VERSION = "null"  # the version ID of an object written while the bucket was not versioned


@dataclass(frozen=True)
class Version:
    """One version of a key in a versioned bucket: an object, or a delete marker (``obj`` None)."""

    version_id: str
    obj: StoredObject | None
    last_modified: float


@dataclass(frozen=True)
class VersionEntry:
    key: str
    version: Version
    is_latest: bool


@dataclass(frozen=True)
class VersionPage:
    entries: list[VersionEntry]
    next_marker: tuple[str, str] | None  # (key, version id) to resume after; None: the listing is complete


def encode_token(kind: str, marker: str) -> str:
    """``kind``: ``k`` (resume after this key) or ``p`` (after every key under this common prefix)."""
    return base64.urlsafe_b64encode(f"{kind}:{marker}".encode()).decode("ascii")


def decode_token(token: str) -> tuple[str, str]:
    try:
        kind, _, marker = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidToken("the continuation token is not one this double issued") from None
    if kind not in ("k", "p") or not marker:
        raise InvalidToken("the continuation token is not one this double issued")
    return kind, marker


class Bucket:
    """One bucket: objects by key plus a sorted key index (both under the bucket's lock)."""

    def __init__(self, name: str, *, versioned: bool = False) -> None:
        self.name = name
        self.versioned = versioned
        self.lock = threading.Lock()
        self._objects: dict[str, StoredObject] = {}
        self._keys: list[str] = []
        self._versions: dict[str, list[Version]] = {}  # versioned: each key's versions and markers, oldest first
        self._version_numbers = itertools.count(1)

    def get(self, key: str) -> StoredObject | None:
        with self.lock:
            return self._objects.get(key)

    def put(self, key: str, obj: StoredObject, *, forbid_overwrite: bool = False) -> bool:
        """Store ``obj`` (a new version when versioned); False (and nothing stored) when ``forbid_overwrite`` and
        the key exists."""
        with self.lock:
            if key in self._objects and forbid_overwrite:
                return False
            self._set_current(key, obj)
            if self.versioned:
                self._versions.setdefault(key, []).append(Version(self._new_version_id(), obj, obj.last_modified))
            return True

    def delete(self, key: str, now: float = 0.0) -> bool:
        """DeleteObject without a version ID: the object goes; on a versioned bucket only behind a new delete
        marker (every earlier version stays)."""
        with self.lock:
            existed = self._set_current(key, None)
            if self.versioned:
                self._versions.setdefault(key, []).append(Version(self._new_version_id(), None, now))
                return True
            return existed

    def current_version_id(self, key: str) -> str | None:
        """The version ID of the key's current version or marker (``x-oss-version-id``); None when unversioned."""
        with self.lock:
            versions = self._versions.get(key)
            return versions[-1].version_id if self.versioned and versions else None

    def delete_version(self, key: str, version_id: str) -> Version | None:
        """DeleteObject with ``versionId``: that version or marker goes for good (``null``: an object written
        unversioned); the one before it becomes current again. The version removed, or None. On a bucket never
        versioned, ``null`` deleting the object is *unverified* (OSS documents ``null`` for suspended buckets only,
        "Manage objects in a versioning-suspended bucket"); the adapter sends no versionId there."""
        with self.lock:
            if not self.versioned:
                obj = self._objects.get(key) if version_id == NULL_VERSION else None
                if obj is None:
                    return None
                self._set_current(key, None)
                return Version(NULL_VERSION, obj, obj.last_modified)
            versions = self._versions.get(key, [])
            for index, version in enumerate(versions):
                if version.version_id == version_id:
                    del versions[index]
                    self._set_current(key, versions[-1].obj if versions else None)
                    if not versions:
                        del self._versions[key]
                    return version
            return None

    def list_versions(self, *, prefix: str, key_marker: str, version_id_marker: str, max_keys: int) -> VersionPage:
        """Versions and markers of the keys under ``prefix``, by key, newest first within a key, after
        (``key_marker``, ``version_id_marker``): with no version marker, after every version of ``key_marker``.
        The position holds even when that version is deleted meanwhile (this double's IDs grow with time)."""
        with self.lock:
            if self.versioned:
                keys = sorted(k for k in self._versions if k.startswith(prefix) and k >= key_marker)
                history = {k: list(reversed(self._versions[k])) for k in keys}
            else:
                keys = [k for k in self._keys if k.startswith(prefix) and k >= key_marker]
                history = {k: [Version(NULL_VERSION, self._objects[k], self._objects[k].last_modified)] for k in keys}
        entries: list[VersionEntry] = []
        for key in keys:
            versions = history[key]
            if key == key_marker:
                if not version_id_marker:
                    continue
                versions = [v for v in versions if v.version_id < version_id_marker]  # older: listed after it
            for version in versions:
                if len(entries) == max_keys:
                    last = entries[-1]
                    return VersionPage(entries, (last.key, last.version.version_id))
                entries.append(VersionEntry(key, version, is_latest=version is history[key][0]))
        return VersionPage(entries, None)

    def _set_current(self, key: str, obj: StoredObject | None) -> bool:
        """Make ``obj`` the key's current object (None: none); whether it had one. Under the lock."""
        existed = key in self._objects
        if obj is None:
            if existed:
                del self._objects[key]
                del self._keys[bisect.bisect_left(self._keys, key)]
            return existed
        if not existed:
            bisect.insort(self._keys, key)
        self._objects[key] = obj
        return existed

    def _new_version_id(self) -> str:
        return f"CAEQ{next(self._version_numbers):012d}"

    def clear(self) -> None:
        with self.lock:
            self._objects.clear()
            self._keys.clear()
            self._versions.clear()

    def versions(self) -> dict[str, list[Version]]:
        """Every version and marker by key, oldest first (a versioned bucket; empty otherwise)."""
        with self.lock:
            return {key: list(versions) for key, versions in self._versions.items()}

    def snapshot(self) -> dict[str, StoredObject]:
        with self.lock:
            return dict(self._objects)

    def size(self) -> tuple[int, int]:
        with self.lock:
            return len(self._objects), sum(len(o.data) for o in self._objects.values())

    def list_page(self, *, prefix: str, delimiter: str, start_after: str, token: str | None, max_keys: int) -> ListPage:
        after, skip = start_after, ""
        if token is not None:
            kind, marker = decode_token(token)
            after, skip = marker, (marker if kind == "p" else "")
        keys: list[tuple[str, StoredObject]] = []
        prefixes: list[str] = []
        with self.lock:
            index = max(bisect.bisect_right(self._keys, after) if after else 0, bisect.bisect_left(self._keys, prefix))
            while skip and index < len(self._keys) and self._keys[index].startswith(skip):
                index += 1
            last = ""
            while index < len(self._keys):
                key = self._keys[index]
                if not key.startswith(prefix):
                    break
                if len(keys) + len(prefixes) == max_keys:
                    return ListPage(keys, prefixes, last)
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    rolled = key[: cut + len(delimiter)]
                    prefixes.append(rolled)
                    last = encode_token("p", rolled)
                    while index < len(self._keys) and self._keys[index].startswith(rolled):
                        index += 1  # every key under a common prefix rolls up into it
                    continue
                keys.append((key, self._objects[key]))
                last = encode_token("k", key)
                index += 1
        return ListPage(keys, prefixes, None)
