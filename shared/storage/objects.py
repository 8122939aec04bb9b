"""Object keys and ``DirectoryObjectStore`` (the local backend: one file per object under a root directory)."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator

from .errors import InvalidKey, ObjectNotFound, StorageError

MAX_KEY_LENGTH = 1023  # OSS's limit, in UTF-8 bytes
_TMP_SUFFIX = ".kyc-tmp"
_UNSAFE_CHARACTER = r"[\x00-\x1f\x7f\\]"  # control characters and the backslash


def validate_key(key: str) -> str:
    """Accept ``results/<id>/result.json``-style keys; reject what could escape a root or confuse a backend.

    Rejected: empty, leading ``/``, backslashes, control characters, empty/``.``/``..`` segments, a trailing
    ``/``, over 1023 UTF-8 bytes, and the local store's temporary-file suffix.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("empty")
    if len(key.encode("utf-8")) > MAX_KEY_LENGTH:
        raise InvalidKey("too long")
    if key.startswith("/"):
        raise InvalidKey("leading slash")
    if re.search(_UNSAFE_CHARACTER, key):
        raise InvalidKey("backslash or control character")
    if any(part in {"", ".", ".."} for part in key.split("/")):
        raise InvalidKey("empty, '.' or '..' segment")
    if key.endswith(_TMP_SUFFIX):
        raise InvalidKey("reserved suffix")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty (everything) or a key-like string that may end with ``/``."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") and len(prefix) > 1 else prefix)
    return prefix


class DirectoryObjectStore:
    """Objects as files under ``root`` (``KYC_DATA_DIR/objects``). Content types are not kept locally.

    Writes are atomic: a temporary file in the target directory, fsync, ``os.replace``, fsync of the directory,
    so a reader sees the old or the new content, never a torn file, and a crash leaves no partial object.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # os.path, not pathlib: cheaper to import (cold start) and to use on every put
        self.root = os.path.realpath(root)
        self._inside = self.root.rstrip(os.sep) + os.sep  # what every path under the root starts with
        os.makedirs(self.root, mode=0o700, exist_ok=True)  # see _make_directories

    def _path(self, key: str) -> str:
        path = os.path.join(self.root, *validate_key(key).split("/"))
        # Defence in depth: validation already excludes '..', but never touch anything outside the root.
        if not os.path.normpath(path).startswith(self._inside):
            raise InvalidKey("outside the store")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Raises ``StorageError`` (transient) when the file system refuses the write: a full disk, or an erasure of
        the same verification deleting the temporary file of this put while it is written; like a failed put on
        OSS, the caller retries later (a callback answers 503), and nothing of the put is left behind."""
        path = self._path(key)
        try:
            self._write(path, data)
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "OSError")  # the errno's name, never the path
            raise StorageError(f"object put failed: {code}", transient=True, code=code) from None

    def _write(self, path: str, data: bytes) -> None:
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f".{name}.{os.urandom(8).hex()}{_TMP_SUFFIX}")
        for attempt in range(4):  # a concurrent delete may prune the directory between mkdir and open
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileNotFoundError:
                if attempt == 3:
                    raise
                try:  # noqa: SIM105 - no contextlib at start (docs/performance.md)
                    self._make_directories(directory)
                except FileNotFoundError:
                    pass  # a level pruned while the next was made: the next attempt makes it again
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:  # noqa: SIM105 - no contextlib at start (docs/performance.md)
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(directory)

    def _make_directories(self, directory: str) -> None:
        """``directory`` (under the root) and each one above it, every one created 0700: ``os.makedirs`` gives only
        the last one its mode, and a directory's name is a verification's id (files are 0600)."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        path = self.root
        for part in os.path.relpath(directory, self.root).split(os.sep):
            path = os.path.join(path, part)
            try:  # noqa: SIM105 - no contextlib at start (docs/performance.md)
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass

    def get(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound() from None

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def list(self, prefix: str) -> list[str]:
        return sorted(key for key, _path, temporary in self._files(prefix) if not temporary)

    def _files(self, prefix: str) -> Iterator[tuple[str, str, bool]]:
        """``(key, path, temporary)`` of each file whose key starts with ``prefix``: an object, or the temporary file
        of a put of that key (``temporary``: one in progress, or left by a process killed mid-put). Walks only the
        deepest directory the prefix names (one verification's ``results/<id>/``), never the whole store."""
        validate_prefix(prefix)
        head = prefix.rpartition("/")[0]
        start = os.path.join(self.root, *head.split("/")) if head else self.root
        for dirpath, _dirnames, filenames in os.walk(start):
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in filenames:
                temporary = name.endswith(_TMP_SUFFIX)
                # ".<name>.<16 hex digits>.kyc-tmp" is a put of <name> (``put``)
                target = name[1:-len(_TMP_SUFFIX) - 17] if temporary else name
                key = target if rel_dir == "." else f"{rel_dir}/{target}"
                if key.startswith(prefix):
                    yield key, os.path.join(dirpath, name), temporary

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:  # noqa: SIM105 - no contextlib at start (docs/performance.md)
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        self._prune(os.path.dirname(path))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``, and the temporary files of puts of such keys (a process killed
        mid-put leaves one holding the object's bytes: an erasure deletes it too; a put still in progress then
        fails, and its caller's retry finds the row gone). Returns the number of objects deleted."""
        count = 0
        for _key, path, temporary in list(self._files(prefix)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            count += not temporary
            self._prune(os.path.dirname(path))
        return count

    def _prune(self, directory: str) -> None:
        """Remove now-empty directories up to (not including) the root."""
        while directory.startswith(self._inside):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
