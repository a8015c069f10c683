"""Checkpoints that let an interrupted training resume exactly where it stopped.

A checkpoint holds everything the next epoch depends on: weights, optimiser and schedule,
the random number generators, the early-stopping record and the history. Resuming from it
gives the same result as never stopping. It is written to a temporary file and renamed, so
a kill mid-write leaves the previous checkpoint intact, and it is read with
`weights_only=True`, so a checkpoint file cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
import weakref
from pathlib import Path

import numpy as np
import torch

from multimodal_fusion.core.npz import is_mapped, read_rows

logger = logging.getLogger(__name__)
HASH_CHUNK = 16 << 20  # bytes of an array read at a time for the run key
# Bump when a training computes something else from the same settings, seed and data, so
# that checkpoints, stored trainings and search studies of the code before are not reused.
TRAINING_VERSION = "training-1"
# The digests of read-only mapped arrays alive in this process, by id (`array_digest`).
_DIGESTS: dict[int, tuple[weakref.ref, bytes]] = {}


def run_key(spec: dict, settings: dict, seed: int, arrays: dict[str, np.ndarray]) -> str:
    """A fingerprint of what determines a training run: the code's `TRAINING_VERSION`,
    model, settings, seed and data."""
    digest = hashlib.sha256()
    digest.update(json.dumps([TRAINING_VERSION, spec, settings, seed], sort_keys=True,
                             default=str).encode())
    for name in sorted(arrays):
        digest.update(name.encode() + array_digest(arrays[name]))
    return digest.hexdigest()[:16]


def array_digest(array: np.ndarray) -> bytes:
    """A digest of the array's type, shape and values, read a few rows at a time so an
    array left on disk (see `npz.read_npz`) is never held in memory whole.

    Remembered for as long as a read-only mapped array lives, which cannot change: a
    search or a cross-fit trains dozens of times on the same mapped model inputs, and each
    training's keys would otherwise read all of them again.
    """
    remembered = is_mapped(array) and not array.flags.writeable
    if remembered and (known := _DIGESTS.get(id(array))) and known[0]() is array:
        return known[1]
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    if array.ndim == 0:
        digest.update(np.ascontiguousarray(array).tobytes())
    else:
        rows = max(1, HASH_CHUNK // max(array[:1].nbytes, 1))
        for start in range(0, len(array), rows):
            positions = np.arange(start, min(start + rows, len(array)))
            digest.update(read_rows(array, positions).tobytes())
    if remembered:
        key = id(array)
        _DIGESTS[key] = (weakref.ref(array, lambda _: _DIGESTS.pop(key, None)),
                         digest.digest())
    return digest.digest()


class CheckpointStore:
    """The latest checkpoint of one training run, in `<folder>/<run key>/last.pt`."""

    def __init__(self, folder: str | Path, key: str) -> None:
        self.folder = Path(folder) / key
        self.path = self.folder / "last.pt"

    def load(self) -> dict | None:
        """The saved state, or None when this run has no checkpoint yet or it is damaged
        (then it is discarded, with a warning, and training starts afresh)."""
        if not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
            logger.warning("The checkpoint %s cannot be read (%s: %s); discarding it and "
                           "training from the start", self.path, type(error).__name__,
                           str(error).splitlines()[0])
            self.clear()
            return None

    def save(self, state: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        torch.save(state, partial)
        partial.replace(self.path)

    def clear(self) -> None:
        """Forget the run once it has finished, so the same command trains afresh next time."""
        shutil.rmtree(self.folder, ignore_errors=True)
