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
from pathlib import Path

import numpy as np
import torch

from multimodal_fusion.core.npz import read_rows

logger = logging.getLogger(__name__)
HASH_CHUNK = 16 << 20  # bytes of an array read at a time for the run key


def run_key(spec: dict, settings: dict, seed: int, arrays: dict[str, np.ndarray]) -> str:
    """A fingerprint of what determines a training run: model, settings, seed and data.

    Arrays are read a few rows at a time, so one left on disk (see `npz.read_npz`) is never
    held in memory whole.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([spec, settings, seed], sort_keys=True, default=str).encode())
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(f"{name}{array.dtype}{array.shape}".encode())
        if array.ndim == 0:
            digest.update(np.ascontiguousarray(array).tobytes())
            continue
        rows = max(1, HASH_CHUNK // max(array[:1].nbytes, 1))
        for start in range(0, len(array), rows):
            positions = np.arange(start, min(start + rows, len(array)))
            digest.update(read_rows(array, positions).tobytes())
    return digest.hexdigest()[:16]


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
