"""``NpzDataset``: a dict of NumPy arrays in one .npz file, loaded without pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset


class NpzDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """Feature tables and model inputs: arrays of numbers, booleans and strings only."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        with np.load(self._filepath, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        partial = self._filepath.with_name(self._filepath.name + ".partial")
        with partial.open("wb") as handle:
            np.savez(handle, **data)
        partial.replace(self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
