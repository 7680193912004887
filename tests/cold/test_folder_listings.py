"""Cached folder listings (vitals.cold.folder_listings) on real folders and files.

Each case changes real files the way a writer (temp file + rename, unlink) or an
operator (an in-place edit) does and checks the next listing shows it, and that an
unchanged folder is answered from the cache (the ``hits`` counter), which is the point.
Folder timestamps are set with ``os.utime`` where a case needs a coarse file system (a
change that leaves the folder's mtime as it was) or an old folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vitals.cold.backends import LocalFolderBackend, write_atomically
from vitals.cold.folder_listings import FolderListings
from vitals.cold.store import ColdStore

SECOND = 1_000_000_000


def _age_folder(folder: Path, seconds: float) -> None:
    """Set the folder's mtime ``seconds`` into the past (as if last changed then)."""
    stat = folder.stat()
    old = time.time_ns() - int(seconds * SECOND)
    os.utime(folder, ns=(stat.st_atime_ns, old))


def _month(tmp_path: Path, names: list[str]) -> tuple[Path, Path]:
    root = tmp_path / "store"
    folder = root / "timeseries" / "s" / "2026" / "07"
    folder.mkdir(parents=True)
    for name in names:
        write_atomically(folder / name, name.encode())
    return root, folder


def _files(listings: FolderListings, folder: Path) -> dict[str, str]:
    listing = listings.listing(str(folder))
    assert listing is not None
    return listing.files


def test_an_unchanged_old_folder_is_listed_once_then_served_from_the_cache(tmp_path):
    root, folder = _month(tmp_path, ["01.parquet", "02.parquet"])
    _age_folder(folder, 10)
    listings = FolderListings(str(root))
    first = _files(listings, folder)
    assert sorted(first) == ["timeseries/s/2026/07/01.parquet", "timeseries/s/2026/07/02.parquet"]
    assert (listings.scans, listings.hits) == (1, 0)
    for _ in range(5):
        assert _files(listings, folder) == first
    assert (listings.scans, listings.hits) == (1, 5)


@pytest.mark.parametrize("change", ["new", "replaced", "deleted"])
def test_a_writer_change_is_seen_by_the_next_listing(tmp_path, change):
    root, folder = _month(tmp_path, ["01.parquet", "02.parquet"])
    _age_folder(folder, 10)
    listings = FolderListings(str(root))
    before = _files(listings, folder)
    assert _files(listings, folder) == before and listings.hits == 1  # trusted, cached
    key = "timeseries/s/2026/07/02.parquet"
    if change == "new":
        write_atomically(folder / "03.parquet", b"three")
    elif change == "replaced":
        write_atomically(folder / "02.parquet", b"a longer second version")  # rename over
    else:
        (folder / "02.parquet").unlink()
    after = _files(listings, folder)
    assert listings.scans == 2
    if change == "new":
        assert set(after) - set(before) == {"timeseries/s/2026/07/03.parquet"}
    elif change == "replaced":
        assert after[key] != before[key]
        stat = (folder / "02.parquet").stat()
        assert after[key] == f"local:{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}"
    else:
        assert key not in after and len(after) == 1


def test_a_rename_within_the_same_timestamp_tick_is_seen(tmp_path):
    """A racy listing (folder changed just before it) is never trusted.

    On a coarse file system a second change in the same tick leaves the folder's mtime
    as it was; ``os.utime`` puts it back to make that happen here.
    """
    root, folder = _month(tmp_path, ["01.parquet", "02.parquet"])
    listings = FolderListings(str(root))  # the folder changed just now: racy
    before = _files(listings, folder)
    stat = folder.stat()
    write_atomically(folder / "02.parquet", b"renamed over within the tick")
    os.utime(folder, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert folder.stat().st_mtime_ns == stat.st_mtime_ns
    after = _files(listings, folder)
    key = "timeseries/s/2026/07/02.parquet"
    assert after[key] != before[key]
    assert listings.hits == 0 and listings.scans == 2


def test_a_listing_is_trusted_once_taken_long_enough_after_the_change(tmp_path):
    root, folder = _month(tmp_path, ["01.parquet"])
    listings = FolderListings(str(root), racy_s=0.3, max_age_s=60)
    _files(listings, folder)
    _files(listings, folder)
    assert listings.hits == 0  # both racy: scanned again
    time.sleep(0.35)
    _files(listings, folder)  # taken 0.35 s after the change: trusted from now on
    _files(listings, folder)
    assert (listings.scans, listings.hits) == (3, 1)


def test_an_in_place_edit_is_seen_once_the_listing_is_older_than_the_bound(tmp_path):
    root, folder = _month(tmp_path, ["01.parquet"])
    _age_folder(folder, 10)
    listings = FolderListings(str(root), max_age_s=0.3)
    key = "timeseries/s/2026/07/01.parquet"
    before = _files(listings, folder)[key]
    with open(folder / "01.parquet", "ab") as handle:  # no rename: the folder is unchanged
        handle.write(b" and more")
    assert _files(listings, folder)[key] == before  # within the bound: the cached listing
    time.sleep(0.35)
    after = _files(listings, folder)[key]
    stat = (folder / "01.parquet").stat()
    assert after != before
    assert after == f"local:{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}"


def test_a_removed_or_replaced_folder_is_not_served_from_the_cache(tmp_path):
    root, folder = _month(tmp_path, ["01.parquet"])
    _age_folder(folder, 10)
    listings = FolderListings(str(root))
    assert _files(listings, folder)
    (folder / "01.parquet").unlink()
    folder.rmdir()
    assert listings.listing(str(folder)) is None
    folder.mkdir()
    write_atomically(folder / "09.parquet", b"nine")
    _age_folder(folder, 10)
    assert list(_files(listings, folder)) == ["timeseries/s/2026/07/09.parquet"]
    assert listings.listing(str(folder / "09.parquet")) is None  # a file is no folder


def test_hidden_temp_files_and_sub_folders_are_listed_as_before(tmp_path):
    root, folder = _month(tmp_path, ["01.parquet"])
    (folder / ".01.parquet.x.tmp").write_bytes(b"half")
    (folder / "sub").mkdir()
    (folder / ".hidden").mkdir()
    os.symlink(folder / "sub", folder / "link")
    listing = FolderListings(str(root)).listing(str(folder))
    assert listing is not None
    assert list(listing.files) == ["timeseries/s/2026/07/01.parquet"]
    assert listing.folders == (str(folder / "sub"),)


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="must not be negative: racy_s=-1"):
        FolderListings("/tmp", racy_s=-1)
    with pytest.raises(ValueError, match=r"max_age_s=-0\.5"):
        FolderListings("/tmp", max_age_s=-0.5)


def test_store_identities_follow_puts_deletes_and_nested_folders(tmp_path):
    """Through ColdStore: the same answers as an uncached walk, after every change."""
    store = ColdStore(str(tmp_path / "store"))
    backend = LocalFolderBackend(tmp_path / "store")
    for day in ("01", "02", "03"):
        store.put_bytes(f"timeseries/s/2026/07/{day}.parquet", day.encode())
    store.put_bytes("timeseries/s/2026/07/extra/x.parquet", b"x")
    folder = tmp_path / "store" / "timeseries" / "s" / "2026" / "07"
    _age_folder(folder / "extra", 10)
    _age_folder(folder, 10)

    def uncached(prefix: str) -> dict[str, str]:
        backend.listings.clear()
        return backend.identities(prefix)

    prefix = "timeseries/s/2026/07/"
    assert store.identities(prefix) == uncached(prefix)
    assert len(store.identities(prefix)) == 4
    assert store.identities("timeseries/s/2026/07/0") == uncached("timeseries/s/2026/07/0")
    store.put_bytes("timeseries/s/2026/07/02.parquet", b"second version")
    store.put_bytes("timeseries/s/2026/07/extra/y.parquet", b"y")
    store.delete("timeseries/s/2026/07/03.parquet")
    found = store.identities(prefix)
    assert found == uncached(prefix)
    assert sorted(found) == [
        "timeseries/s/2026/07/01.parquet",
        "timeseries/s/2026/07/02.parquet",
        "timeseries/s/2026/07/extra/x.parquet",
        "timeseries/s/2026/07/extra/y.parquet",
    ]
    assert (
        store.identity("timeseries/s/2026/07/02.parquet")
        == found["timeseries/s/2026/07/02.parquet"]
    )
    assert store.identities("timeseries/s/2026/08/") == {}
