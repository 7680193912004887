"""Where cold objects live: the backend protocol, its errors, and the local folder.

Backends take keys already validated by :mod:`vitals.cold.keys` and offer the same
small set of operations; :class:`vitals.cold.store.ColdStore` picks one from its URL
(the S3 one is :mod:`vitals.cold.s3`). Writes are atomic in both: a reader sees the old
object or the new one, never a half-written file (local: temp file in the same folder +
fsync + ``os.replace``; S3/R2: one PUT).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from typing_extensions import override

from vitals.cold.folder_listings import FolderListings


class ColdStoreError(RuntimeError):
    """The cold store could not be reached or refused an operation."""


class ColdKeyMissingError(KeyError):
    """No object under this key; the message names the key and the store."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(key)
        self.key = key
        self.where = where

    def __str__(self) -> str:
        return f"cold store object {self.key!r} does not exist in {self.where}"


class ColdBackend(Protocol):
    """What a place for cold objects offers; keys and prefixes arrive validated."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, replacing any older object."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; :class:`ColdKeyMissingError` if there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix`` (a string prefix, as in S3)."""
        ...

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity (changes on every rewrite) for keys under ``prefix``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...

    def local_copy(self, key: str) -> Path:
        """A local file holding the object's bytes."""
        ...

    def uri(self, key: str) -> str:
        """Where the object lives, for messages and readers that take a URI."""
        ...


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a hidden temp file in the same folder, fsync it, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


_PATHS_KEPT = 16_384


class LocalFolderBackend(ColdBackend):
    """Objects as files under one root folder (the embedded default)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(os.path.abspath(os.path.expanduser(str(root))))
        self._root_text = str(self.root)
        self.listings = FolderListings(self._root_text)
        self._paths: dict[str, Path] = {}

    def path(self, key: str) -> Path:
        """The file of ``key``; refuses any path that resolves outside the root.

        Kept per key (a pure function of root and key; ``Path`` building and the parents
        check were ~25 us a key, a year chart asks ~15).
        """
        found = self._paths.get(key)
        if found is not None:
            return found
        path = Path(os.path.normpath(self.root / key))
        if path == self.root or self.root not in path.parents:  # belt and braces
            raise ColdStoreError(f"cold store key {key!r} resolves outside {self.root}")
        if len(self._paths) >= _PATHS_KEPT:
            self._paths.clear()  # a crude bound: keys of a few sites' recent years fit
        self._paths[key] = path
        return path

    @override
    def uri(self, key: str) -> str:
        return str(self.path(key))

    @override
    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            write_atomically(self.path(key), data)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise ColdStoreError(
                f"cannot write cold store key {key!r} under {self.root}: {exc}"
            ) from exc

    @override
    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ColdKeyMissingError(key, str(self.root)) from None

    @override
    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def _walk(self, start: Path) -> Iterator[str]:
        """Keys of the visible files under ``start`` (hidden temp files are skipped)."""
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in filenames:
                if not filename.startswith("."):
                    yield (Path(dirpath) / filename).relative_to(self.root).as_posix()

    @override
    def list_keys(self, prefix: str) -> list[str]:
        folder = prefix.rpartition("/")[0]
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            return []
        return sorted(key for key in self._walk(start) if key.startswith(prefix))

    @override
    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> ``local:{inode}-{size}-{mtime_ns}`` (every atomic rewrite changes it).

        The same keys as :meth:`list_keys` (hidden files and folders skipped, symlinked
        folders not followed, as ``os.walk``). Each folder's listing comes from
        :class:`vitals.cold.folder_listings.FolderListings`: one ``stat`` of the folder
        instead of one per file while the folder is unchanged (every chart asks this
        once per month folder).
        """
        folder = prefix.rpartition("/")[0]
        todo = [f"{self._root_text}/{folder}" if folder else self._root_text]
        found: dict[str, str] = {}
        while todo:
            listing = self.listings.listing(todo.pop())
            if listing is None:
                continue
            todo.extend(listing.folders)
            if not found and not todo and prefix.endswith("/"):
                return dict(listing.files)  # one folder, all of it: already sorted
            found.update((k, v) for k, v in listing.files.items() if k.startswith(prefix))
        return dict(sorted(found.items()))

    @override
    def delete(self, key: str) -> None:
        path = self.path(key)
        if path.is_dir():
            raise ColdStoreError(
                f"cold store key {key!r} is a folder under {self.root}, not an object"
            )
        path.unlink(missing_ok=True)

    @override
    def local_copy(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise ColdKeyMissingError(key, str(self.root))
        return path
