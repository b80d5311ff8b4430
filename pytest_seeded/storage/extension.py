"""The syrupy extension that owns the snapshot files: one per (test, seed), named by
``naming.py``, written atomically, and shown to syrupy's unused-snapshot cleanup only when no
collected test owns them (``cleanup.py``)."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syrupy.data import Snapshot, SnapshotCollection, SnapshotCollections
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from pytest_seeded.storage.cleanup import WATCH_KEY
from pytest_seeded.storage.naming import (
    FILE_EXTENSION,
    IGNORE_NAME,
    SNAPSHOT_DIRNAME,
    owner_key,
    owner_keys,
    snapshot_folder,
    stem,
)
from pytest_seeded.storage.snapshot import Recording, dumps

if TYPE_CHECKING:
    from syrupy.location import PyTestLocation
    from syrupy.types import (
        PropertyFilter,
        PropertyMatcher,
        SerializableData,
        SerializedData,
        SnapshotIndex,
    )


class SeededSnapshotExtension(SingleFileSnapshotExtension):
    file_extension = FILE_EXTENSION
    _write_mode = WriteMode.TEXT
    # Beside syrupy's __snapshots__, where its own extensions never look (naming.py).
    snapshot_dirname = SNAPSHOT_DIRNAME

    # Text the plugin has just read for a test, handed to syrupy when it recalls the same file
    # at teardown, so a replayed test reads its snapshot from disk once. Entries are removed
    # when used or when the test ends, so it never holds more than the running tests' files.
    _read_cache: dict[str, str] = {}  # noqa: RUF012

    # syrupy recomputes a test's snapshot folder and file name with pathlib several times per
    # assertion; replaying 1,000 tests spent more time there than in the replay itself. Both
    # are pure functions of the test and the index, so they are remembered (bounded).
    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return snapshot_folder(test_location.filepath, str(cls.snapshot_dirname))

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        return _snapshot_name(test_location, index)

    @classmethod
    def matches_test_location(
        cls, *, test_location: PyTestLocation, snapshot_location: str
    ) -> bool:
        # syrupy relates a file to a test by the test id's prefix; the plugin's names drop a
        # seed-matrix parameter and may carry a digest, so it relates them by its own rule.
        folder, name = os.path.split(snapshot_location)
        if os.path.normpath(folder) != os.path.normpath(cls.dirname(test_location=test_location)):
            return False
        file_stem = name.removesuffix(f".{FILE_EXTENSION}")
        return owner_key(file_stem) in owner_keys(test_location.item)

    @classmethod
    def discovery_dirname(cls, *, test_location: PyTestLocation) -> str:
        # syrupy's rule for this layout (__snapshots__/<module>/<file>): discover in the folder
        # above the module's, so that one listing serves every module. The same result as
        # syrupy's, without its two pathlib round trips on every assertion.
        return os.path.dirname(cls.dirname(test_location=test_location))

    def discover_snapshots(
        self, *, test_location: PyTestLocation, ignore_extensions: list[str] | None = None
    ) -> SnapshotCollections:
        """Every snapshot file of this layout under the test's __snapshots__ folder.

        syrupy runs discovery twice per folder and walks it with Path.rglob, then checks
        each file with pathlib: 30 ms for 1,000 files, each time. The files this extension
        owns are exactly ``<discovery dir>/<folder>/<name>.seeded.jsonc``, so two levels of
        os.scandir find the same collections (tests/test_snapshot_files.py compares the
        two on a folder of decoys) in a fraction of the time. Any other layout, from a
        subclass, goes the way syrupy goes.
        """
        # Files a collected test owns (under any seed) are not syrupy's to call unused: only
        # orphans are shown to it. Without the run's ownership (syrupy rebuilding a worker's
        # report), show none: a file that is not shown is never deleted.
        config = getattr(test_location.item, "config", None)
        watch = config.stash.get(WATCH_KEY, None) if config is not None else None
        if watch is None or watch.user_ignores_ours:
            return SnapshotCollections()
        # The plugin put its extension on syrupy's ignore list, for syrupy's other extensions
        # (plugin.py); its own listing goes on.
        others = [e for e in ignore_extensions or [] if e != IGNORE_NAME]
        discovered = self.list_snapshots(test_location, others)
        ownership = watch.ownership()
        orphans = SnapshotCollections()
        for collection in discovered:
            if not ownership.owns(collection.location):
                orphans.add(collection)
        return orphans

    def list_snapshots(
        self, test_location: PyTestLocation, ignore_extensions: list[str] | None
    ) -> SnapshotCollections:
        """Every snapshot file of this layout in the test's snapshot folder, owned or not."""
        discovery_dir = self.discovery_dirname(test_location=test_location)
        if discovery_dir != os.path.dirname(self.dirname(test_location=test_location)):
            return super().discover_snapshots(
                test_location=test_location, ignore_extensions=ignore_extensions
            )
        discovered = SnapshotCollections()
        if ignore_extensions and IGNORE_NAME in ignore_extensions:
            return discovered
        suffix = f".{FILE_EXTENSION}"
        for folder in _entries(discovery_dir):
            # Path.rglob does not descend into a symlinked folder: neither does this.
            if not folder.is_dir(follow_symlinks=False):
                continue
            for entry in _entries(folder.path):
                name = entry.name
                if name.endswith(suffix) and not name.startswith(".") and _is_file(entry):
                    collection = SnapshotCollection(location=entry.path)
                    collection.add(Snapshot(name=name[: -len(suffix)]))
                    discovered.add(collection)
        return discovered

    @classmethod
    def get_location(cls, *, test_location: PyTestLocation, index: SnapshotIndex) -> str:
        # The folder and the name are normalized already and the name holds no separator
        # (syrupy cleans it), so a string join gives what syrupy's pathlib join gives.
        name = cls.get_file_basename(test_location=test_location, index=index)
        return os.path.join(cls.dirname(test_location=test_location), f"{name}.{FILE_EXTENSION}")

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        if isinstance(data, Recording):
            return data.source if data.source is not None else dumps(data)
        if isinstance(data, str):
            return data
        raise TypeError(
            f"pytest-seeded snapshots hold recordings, not {type(data).__name__}: "
            "use syrupy's own snapshot fixture for other data"
        )

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> Any:
        cached = self._read_cache.pop(snapshot_location, None)
        if cached is not None:
            return cached
        return super().read_snapshot_data_from_location(
            snapshot_location=snapshot_location,
            snapshot_name=snapshot_name,
            session_id=session_id,
        )

    @classmethod
    def write_snapshot_collection(
        cls,
        *,
        snapshot_collection: SnapshotCollection,
        name_order: dict[str, int] | None = None,
    ) -> None:
        data = next(iter(snapshot_collection)).data
        if not isinstance(data, str):
            raise TypeError(f"pytest-seeded writes text snapshots, got {type(data).__name__}")
        write_atomically(Path(snapshot_collection.location), data)


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file and rename it over the target, so that a run killed at
    any point leaves either the old file or the complete new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    # A run killed mid-write (kill -9) leaves its temporary file: one writer per file, so any
    # left over for this name is such a leftover.
    for entry in _entries(str(path.parent)):
        if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        # A lone surrogate (a model's text in a report) is written as its escape, not a crash.
        with os.fdopen(
            fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n"
        ) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# A temporary file older than this is no write in progress (a write takes milliseconds) but
# one a killed run left.
STALE_SECONDS = 120
_swept: set[str] = set()


def sweep_stale_temporaries(folder: str) -> None:
    """Remove the temporary files killed runs left in a snapshot folder, once per folder and
    process: the first test that reads from the folder sweeps it, whether or not its own file
    is written again."""
    if folder in _swept:
        return
    _swept.add(folder)
    now = time.time()
    for entry in _entries(folder):
        name = entry.name
        if name.startswith(".") and name.endswith(".tmp") and f".{FILE_EXTENSION}." in name:
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                    os.unlink(entry.path)


def read_snapshot_text(path: str) -> str | None:
    """Read a snapshot file for a test and keep its text for syrupy's recall at teardown."""
    sweep_stale_temporaries(os.path.dirname(path))
    raw = read_regular_file(path)
    if raw is None:
        return None
    text = raw.decode("utf-8")
    remember(path, text)
    return text


class NotARegularFile(OSError):
    """A snapshot's name is taken by a FIFO, a socket, a device or a folder."""


def read_regular_file(path: str) -> bytes | None:
    """The bytes of a regular file, None if there is none; never blocks. A FIFO with a
    snapshot's name made replay hang forever in open(): it is opened without blocking and
    refused, as anything else that is not a regular file is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
            raise NotARegularFile(f"not a regular file but {kind}")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def remember(path: str, text: str) -> None:
    SeededSnapshotExtension._read_cache[path] = text


def forget(path: str) -> None:
    SeededSnapshotExtension._read_cache.pop(path, None)


def _entries(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except OSError:  # missing, not a folder, or not readable: Path.rglob skips it too
        return []


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a symlink loop, or a link into a folder that cannot be read
        return False


@functools.lru_cache(maxsize=1024)
def _snapshot_name(test_location: PyTestLocation, index: SnapshotIndex) -> str:
    if isinstance(index, str) and index.startswith("seed="):
        return stem(test_location.item, int(index[len("seed=") :]))
    return SingleFileSnapshotExtension.get_snapshot_name(test_location=test_location, index=index)
