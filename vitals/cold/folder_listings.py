"""Cached listings of local cold-store folders, trusted only while the folder is unchanged.

Why: every chart lists the month folders it spans and stats each file in them for its
version identity (a year is 13 folders, ~400 ``stat`` calls: ~2 ms of a 40 ms answer).
Our writers always write a temp file and rename it into place (or unlink), and each of
those changes the folder's own ``mtime``, so one ``stat`` of the folder tells whether the
listing taken before is still the folder's contents.

Two rules keep that exact despite coarse timestamps:

* "racy" listings (as git's index): a folder changed within ``racy_s`` of the moment its
  listing began may change again within the same timestamp tick without its ``mtime``
  moving, so such a listing is never reused (the folder is scanned again next time);
* an age bound (``max_age_s``): a file edited in place (not renamed over: nothing a
  Vitals writer does, but an operator might) changes no folder ``mtime``; a listing
  older than this is taken again, so such an edit is seen within that many seconds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

# Timestamps of common local file systems tick at most every ~10 ms (ext4, xfs: the
# kernel's coarse clock), some at 1-2 s (FAT, some network mounts): 2 s covers them.
RACY_S = 2.0
MAX_AGE_S = 2.0
MAX_FOLDERS = 4096


@dataclass(frozen=True)
class Listing:
    """One folder's visible contents: its files' keys -> identities, and its sub-folders."""

    files: dict[str, str]  # store key -> identity, sorted by key; never mutated
    folders: tuple[str, ...]  # absolute paths of sub-folders (symlinks not followed)


@dataclass(frozen=True)
class _Cached:
    folder_id: tuple[int, int, int]  # (device, inode, mtime_ns) when the listing began
    began_ns: int  # wall clock, comparable with file-system timestamps
    taken_at: float  # monotonic, for the age bound
    listing: Listing


def file_identity(stat: os.stat_result) -> str:
    """``local:{inode}-{size}-{mtime_ns}``: every atomic rewrite changes it."""
    return f"local:{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}"


def scan_folder(folder: str, root: str) -> Listing | None:
    """The visible entries of ``folder`` (keys relative to ``root``); ``None`` if no folder.

    A stat per file. Hidden names (temp files of writers) are skipped; a file deleted
    between the listing and its stat is left out.
    """
    try:
        found = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return None
    base = len(root) + 1
    files: dict[str, str] = {}
    folders: list[str] = []
    for entry in found:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                if not entry.is_symlink():
                    folders.append(entry.path)
                continue
            stat = entry.stat()
        except FileNotFoundError:
            continue
        files[entry.path[base:].replace(os.sep, "/")] = file_identity(stat)
    return Listing(dict(sorted(files.items())), tuple(sorted(folders)))


class FolderListings:
    """Cache of the listings of folders under ``root``, each checked by one folder ``stat``.

    ``clock_ns`` and ``monotonic`` are the wall and monotonic clocks (parameters so the
    rules read as what they compare; the defaults are the real ones).
    """

    def __init__(
        self,
        root: str,
        *,
        racy_s: float = RACY_S,
        max_age_s: float = MAX_AGE_S,
        max_folders: int = MAX_FOLDERS,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if racy_s < 0 or max_age_s < 0:
            raise ValueError(
                f"folder listing rules must not be negative: racy_s={racy_s}, max_age_s={max_age_s}"
            )
        self.root = root
        self.racy_ns = int(racy_s * 1e9)
        self.max_age_s = max_age_s
        self._clock_ns = clock_ns
        self._monotonic = monotonic
        self._listings: LRUCache[str, _Cached] = LRUCache(maxsize=max_folders)
        self._lock = threading.Lock()
        self.hits = 0
        self.scans = 0

    def listing(self, folder: str) -> Listing | None:
        """The folder's visible contents, from the cache when provably current."""
        try:
            stat = os.stat(folder)
        except (FileNotFoundError, NotADirectoryError):
            with self._lock:
                self._listings.pop(folder, None)
            return None
        folder_id = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
        with self._lock:
            cached = self._listings.get(folder)
            if (
                cached is not None
                and cached.folder_id == folder_id
                and cached.began_ns - folder_id[2] >= self.racy_ns
                and self._monotonic() - cached.taken_at <= self.max_age_s
            ):
                self.hits += 1
                return cached.listing
            self.scans += 1
        # the folder's mtime was read before the scan began, so a change during the scan
        # shows as a newer mtime next time (or, within one tick, as a racy listing)
        began_ns = self._clock_ns()
        taken_at = self._monotonic()
        found = scan_folder(folder, self.root)
        if found is None:
            return None
        with self._lock:
            self._listings[folder] = _Cached(folder_id, began_ns, taken_at, found)
        return found

    def clear(self) -> None:
        """Forget every listing and reset the counters."""
        with self._lock:
            self._listings.clear()
            self.hits = self.scans = 0
