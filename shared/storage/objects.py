"""Object keys and ``DirectoryObjectStore`` (the local backend: one file per object under a root directory)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from .errors import InvalidKey, ObjectNotFound

MAX_KEY_LENGTH = 1023  # OSS's limit, in UTF-8 bytes
_TMP_SUFFIX = ".kyc-tmp"


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
    if "\\" in key or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
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
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*validate_key(key).split("/"))
        # Defence in depth: validation already excludes '..', but never touch anything outside the root.
        if self.root not in path.parents:
            raise InvalidKey("outside the store")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_TMP_SUFFIX}")
        for attempt in range(3):  # a concurrent delete may prune the directory between mkdir and open
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound() from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        keys: list[str] = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.endswith(_TMP_SUFFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        for key in self.list(prefix):
            path = self._path(key)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            count += 1
            self._prune(path.parent)
        return count

    def _prune(self, directory: Path) -> None:
        """Remove now-empty directories up to (not including) the root."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _fsync_dir(directory: Path) -> None:
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
