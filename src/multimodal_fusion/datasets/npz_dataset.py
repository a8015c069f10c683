"""``NpzDataset``: a dict of NumPy arrays in one .npz file, loaded without pickle."""

from __future__ import annotations

from typing import Any

import numpy as np

from multimodal_fusion.core.npz import read_npz, write_npz
from multimodal_fusion.datasets.local_file import LocalFileDataset


class NpzDataset(LocalFileDataset):
    """Feature tables and model inputs: arrays of numbers, booleans and strings only.

    An array of numbers of at least `map_from_mb` megabytes is left on disk, mapped (see
    `npz.read_npz`): training streams such data by rows instead of holding it whole.
    """

    def __init__(self, filepath: str, map_from_mb: float = 16,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._map_from = int(map_from_mb * (1 << 20))

    def load(self) -> dict[str, np.ndarray]:
        return read_npz(self._filepath, map_from=self._map_from)

    def save(self, data: dict[str, np.ndarray]) -> None:
        write_npz(self._filepath, data)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "map_from_bytes": self._map_from}
