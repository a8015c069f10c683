"""``NpzDataset``: a dict of NumPy arrays in one .npz file, loaded without pickle."""

from __future__ import annotations

import numpy as np

from multimodal_fusion.datasets.local_file import LocalFileDataset


class NpzDataset(LocalFileDataset):
    """Feature tables and model inputs: arrays of numbers, booleans and strings only."""

    def load(self) -> dict[str, np.ndarray]:
        with np.load(self._filepath, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        """Write beside the target, then rename: a crash never leaves half a file behind."""
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        partial = self._filepath.with_name(self._filepath.name + ".partial")
        with partial.open("wb") as handle:
            np.savez(handle, **data)
        partial.replace(self._filepath)
