"""Digests of input files' bytes, remembered between the stages of a run. No Kedro.

Validation's copies, the feature cache's keys, the run record's data fingerprint and
`evaluate`'s check each ask for every input file's digest, often each in a process of its
own: a digest index in the cache folder (`DIGEST_INDEX`) keeps them by device, inode, size
and modification time, so a file is read again only when it changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from multimodal_fusion.core.progress import track

logger = logging.getLogger(__name__)
CHUNK = 1 << 20
# Digests of the files read so far, by device, inode, size and modification time.
_DIGESTS: dict[tuple[int, int, int, int], bytes] = {}
# What each digest index (below) holds, as this process has read or written it.
_INDEXED: dict[Path, set[tuple[int, int, int, int]]] = {}
DIGEST_INDEX = "file_digests.sqlite"
# A file modified this recently may be modified again within the clock's resolution without
# its time changing (git's "racily clean" files): its digest is not remembered on disk.
SETTLED_NS = 2_000_000_000


def file_digests(paths: Sequence[str], folder: str | Path | None, description: str
                 ) -> list[bytes]:
    """A digest of each file's bytes (read in chunks, so large files need little memory);
    a file this process or, with a cache `folder`, an earlier run has read with the same
    device, inode, size and modification time is not read again.

    The feature cache and the run record both ask for every input file's digest, and each
    stage of a run is often a process of its own: reading every file to learn it is
    unchanged cost the evaluation stage as much as its analysis.
    """
    index = _merge_digest_index(folder)
    indexed = _INDEXED.get(index, set())
    remembered = []
    digests = []
    now = time.time_ns()
    for path in track(paths, description):
        status = os.stat(path)
        key = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
        if key not in _DIGESTS:
            _DIGESTS[key] = _read_digest(path)
        if key not in indexed and status.st_mtime_ns < now - SETTLED_NS:
            remembered.append((*key, _DIGESTS[key]))
        digests.append(_DIGESTS[key])
    if index is not None and remembered:
        _remember_digests(index, remembered)
    return digests


def _read_digest(path: str) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def _connect(index: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(index, timeout=60)  # parallel stages may write at once
    connection.execute("CREATE TABLE IF NOT EXISTS digests (dev INTEGER, ino INTEGER, "
                       "size INTEGER, mtime_ns INTEGER, digest BLOB, "
                       "PRIMARY KEY (dev, ino, size, mtime_ns))")
    return connection


def _merge_digest_index(folder: str | Path | None) -> Path | None:
    """The cache folder's digest index, merged into this process's digests once; None
    without a folder or when the index cannot be used (digests are then only read)."""
    if folder is None:
        return None
    index = Path(folder) / DIGEST_INDEX
    if index in _INDEXED:
        return index
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        with closing(_connect(index)) as connection:
            rows = connection.execute("SELECT dev, ino, size, mtime_ns, digest FROM digests")
            stored = {tuple(row[:4]): bytes(row[4]) for row in rows}
    except (OSError, sqlite3.Error) as error:
        logger.warning("The file digest index %s cannot be used (%s: %s): every input file "
                       "is read to learn whether it changed; delete the file to start a new "
                       "one", index, type(error).__name__, error)
        return None
    _DIGESTS.update(stored)
    _INDEXED[index] = set(stored)
    return index


def _remember_digests(index: Path, rows: list[tuple]) -> None:
    try:
        with closing(_connect(index)) as connection, connection:
            connection.executemany("INSERT OR IGNORE INTO digests VALUES (?, ?, ?, ?, ?)",
                                   rows)
    except sqlite3.Error as error:
        logger.warning("The file digest index %s cannot be written (%s: %s): the next run "
                       "reads these %d files again", index, type(error).__name__, error,
                       len(rows))
        return
    _INDEXED[index].update(tuple(row[:4]) for row in rows)
