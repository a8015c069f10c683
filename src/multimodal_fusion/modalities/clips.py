"""Cleaned audio clips on disk, written as they come and read back one at a time.

Audio preprocessing (resampling, denoising, trimming) is the slow part of audio features, and
its result does not depend on which features are computed from it. Keeping it on disk lets a
change of feature settings skip it, and keeps memory flat: a 100,000-clip dataset never sits
in RAM at once. A store is a folder with every clip's float32 samples end to end in one file
and an index (the manifest position, offset and length of each clip) beside it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from multimodal_fusion.core.npz import read_npz, write_npz

SAMPLES_FILE = "samples.f32"
INDEX_FILE = "index.npz"
ClipStore = dict[str, np.ndarray]


def write_clip_store(folder: Path, clips: Iterable[tuple[int, np.ndarray]], rows: int,
                     sample_rate: int, key: str,
                     failed: Callable[[], dict[str, np.ndarray]]) -> ClipStore:
    """Stream `clips` ((manifest position, samples), in order) into a new store at `folder`;
    `failed()`, asked once every clip is written, gives the files that failed, for the
    index to keep (see `modalities.common.Failures`).

    The store is built in this process's own scratch folder and renamed at the end, so an
    interrupted run never leaves half a store that a later run would trust, and torchrun
    ranks building the same store at once do not collide: whichever renames first is kept.
    """
    scratch = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        _write_clips(scratch, clips, rows, sample_rate, key, failed)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)  # interrupted: nothing half-done stays
        raise
    try:
        scratch.rename(folder)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return read_clip_store(folder)


def _write_clips(scratch: Path, clips: Iterable[tuple[int, np.ndarray]], rows: int,
                 sample_rate: int, key: str, failed: Callable[[], dict[str, np.ndarray]]) -> None:
    """The samples file, clip after clip, then the index that locates each clip in it."""
    offsets = np.zeros(rows, dtype=np.int64)
    lengths = np.zeros(rows, dtype=np.int64)
    present = np.zeros(rows, dtype=bool)
    written = 0
    with (scratch / SAMPLES_FILE).open("wb") as handle:
        for position, clip in clips:
            samples = np.ascontiguousarray(clip, dtype=np.float32)
            handle.write(samples.tobytes())
            offsets[position], lengths[position] = written, samples.size
            present[position] = True
            written += samples.size
    write_npz(scratch / INDEX_FILE, {"offset": offsets, "length": lengths, "present": present,
                                     "sample_rate": np.array(sample_rate), "key": np.array(key),
                                     **failed()})


def read_clip_store(folder: Path, checked: bool = False) -> ClipStore:
    """A store's index, with the folder it lives in; no samples are read yet.

    `checked` also holds the samples file to the index: a store cut short (a disk filled,
    a file truncated) would otherwise hand out zeros or another clip's samples as a clip.
    """
    store = read_npz(folder / INDEX_FILE) | {"folder": np.array(str(folder))}
    if checked:
        expected = 4 * int((store["offset"] + store["length"]).max(initial=0))
        held = (folder / SAMPLES_FILE).stat().st_size
        if held != expected:
            raise ValueError(f"{folder / SAMPLES_FILE} holds {held:,} bytes, its index "
                             f"{expected:,}")
    return store


def clip_locations(store: ClipStore) -> list[tuple[str, int, int]]:
    """(samples file, offset, length) of each present clip, in manifest order."""
    samples = str(Path(str(store["folder"])) / SAMPLES_FILE)
    return [(samples, int(store["offset"][i]), int(store["length"][i]))
            for i in np.flatnonzero(store["present"])]


def read_clip(location: tuple[str, int, int]) -> np.ndarray:
    """One clip's samples, read straight from the store's file."""
    path, offset, length = location
    return np.fromfile(path, dtype=np.float32, count=length, offset=4 * offset)
