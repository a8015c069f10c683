"""Arrays on disk as .npz: written atomically, read without pickle. No Kedro."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write beside the target, then rename: a crash never leaves half a file behind.

    The scratch file is this process's own, so torchrun ranks writing the same cached table
    at once cannot interleave their bytes; the last rename wins with a whole file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)
    partial.replace(path)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the file; object arrays are refused, so loading cannot run code."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
