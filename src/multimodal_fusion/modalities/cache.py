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
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from multimodal_fusion.core.digests import file_digests
from multimodal_fusion.core.npz import IN_MEMORY_BYTES, read_npz, write_npz
from multimodal_fusion.modalities.clips import INDEX_FILE, ClipStore, read_clip_store
from multimodal_fusion.modalities.common import TABLE_LAYOUT, FeatureTable, modality_cells

logger = logging.getLogger(__name__)


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
