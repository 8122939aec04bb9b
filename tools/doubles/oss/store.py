"""The OSS double's buckets and objects (in memory), and the ListObjectsV2 page logic.

Listing follows "ListObjectsV2 (GetBucketV2)" (OSS API reference): keys in ascending (byte) order, ``prefix``,
``start-after`` (exclusive), ``continuation-token`` (opaque; here the base64url of the last key or common prefix
returned, so the next page resumes after it), ``delimiter`` rolling keys up into ``CommonPrefixes`` (each counting once
against ``max-keys``), ``max-keys`` 1–1000 (default 100). A listing reads the bucket's sorted key index from the
first candidate onwards (``bisect``), never the whole bucket.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
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

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self._objects: dict[str, StoredObject] = {}
        self._keys: list[str] = []

    def get(self, key: str) -> StoredObject | None:
        with self.lock:
            return self._objects.get(key)

    def put(self, key: str, obj: StoredObject, *, forbid_overwrite: bool = False) -> bool:
        """Store ``obj``; False (and nothing stored) when ``forbid_overwrite`` and the key exists."""
        with self.lock:
            if key in self._objects:
                if forbid_overwrite:
                    return False
            else:
                bisect.insort(self._keys, key)
            self._objects[key] = obj
            return True

    def delete(self, key: str) -> bool:
        with self.lock:
            if self._objects.pop(key, None) is None:
                return False
            del self._keys[bisect.bisect_left(self._keys, key)]
            return True

    def clear(self) -> None:
        with self.lock:
            self._objects.clear()
            self._keys.clear()

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
