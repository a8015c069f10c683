"""Reuse features when neither the inputs nor the extractor's settings changed.

A feature table is stored under a fingerprint of everything it depends on: each sample's id
and cell, the contents of each referenced file, the extractor's settings and a version that
changes whenever extraction code changes meaning. A rerun with nothing changed loads the
table instead of decoding every file again; change one modality's settings and only that
modality is recomputed.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import pandas as pd

from multimodal_fusion.core.npz import IN_MEMORY_BYTES, read_npz, write_npz
from multimodal_fusion.core.progress import track
from multimodal_fusion.modalities.clips import INDEX_FILE, ClipStore, read_clip_store
from multimodal_fusion.modalities.common import TABLE_LAYOUT, FeatureTable, modality_cells

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


def fingerprint(manifest: pd.DataFrame, column: str, settings: dict, version: str,
                files: bool, cache: str | Path | None = None) -> str:
    """A key for one modality's features: ids, cells, file contents, settings and version;
    with `files`, the digests are remembered in the `cache` folder."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([TABLE_LAYOUT, column, settings, version], sort_keys=True).encode())
    cells = modality_cells(manifest, column)
    contents = iter(file_digests([cell for cell in cells if cell], cache,
                                 f"{column} files: digests") if files else [])
    for sample_id, cell in zip(manifest["sample_id"], cells, strict=True):
        digest.update(f"{sample_id}\0{cell}\0".encode())
        if files and cell:
            digest.update(next(contents))
    return digest.hexdigest()


def derived_key(parent_key: str, settings: dict, version: str) -> str:
    """A key for what is computed from an already keyed input with these settings."""
    payload = json.dumps([TABLE_LAYOUT, parent_key, settings, version], sort_keys=True)
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def cached_clip_store(folder: str | Path | None, key: str,
                      build: Callable[[Path], ClipStore]) -> ClipStore:
    """The clip store kept under `folder/audio_clips/key`, or `build`'s, kept for next time.

    With no `folder`, caching is off: the store goes to a scratch folder removed at exit.
    """
    if folder is None:
        scratch = Path(tempfile.mkdtemp(prefix="multimodal-fusion-clips-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        return build(scratch / key)
    path = Path(folder) / "audio_clips" / key
    if (path / INDEX_FILE).is_file():
        try:
            store = read_clip_store(path, checked=True)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            logger.warning("audio preprocessing: the cached clips in %s are damaged (%s); "
                           "discarding them and cleaning the clips again", path, error)
            shutil.rmtree(path, ignore_errors=True)
        else:
            logger.info("audio preprocessing: clips and settings unchanged, reusing %s", path)
            return store
    store = build(path)
    logger.info("audio preprocessing: cleaned clips stored in %s", path)
    return store


def cached_features(folder: str | Path | None, modality: str, key: str,
                    compute: Callable[[], FeatureTable]) -> FeatureTable:
    """The table cached under `folder/modality/key.npz`, or `compute()`'s, stored for next time.

    With no `folder`, caching is off and `compute()` always runs.
    """
    if folder is None:
        return compute()
    path = Path(folder) / modality / f"{key}.npz"
    if path.is_file():
        try:
            table = read_npz(path, map_from=IN_MEMORY_BYTES)  # a large array stays on disk
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            logger.warning("%s features: the cached table %s cannot be read (%s: %s); "
                           "discarding it and computing the features again", modality, path,
                           type(error).__name__, error)
            path.unlink(missing_ok=True)
        else:
            logger.info("%s features: inputs and settings unchanged, reusing %s", modality,
                        path)
            return table
    table = compute()
    write_npz(path, table)
    logger.info("%s features: computed and cached in %s", modality, path)
    return table
