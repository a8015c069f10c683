"""``NpzDataset``: a dict of NumPy arrays in one .npz file, loaded without pickle."""

from __future__ import annotations

import numpy as np

from multimodal_fusion.datasets.local_file import LocalFileDataset
from multimodal_fusion.npz import read_npz, write_npz


class NpzDataset(LocalFileDataset):
    """Feature tables and model inputs: arrays of numbers, booleans and strings only."""

    def load(self) -> dict[str, np.ndarray]:
        return read_npz(self._filepath)

    def save(self, data: dict[str, np.ndarray]) -> None:
        write_npz(self._filepath, data)
