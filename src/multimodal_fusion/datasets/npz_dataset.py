"""``NpzDataset``: a dict of NumPy arrays in one .npz file, loaded without pickle; and
``RunNpzDataset``, the same with a version per run."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractVersionedDataset, Version

from multimodal_fusion.core.npz import read_npz, write_npz
from multimodal_fusion.datasets.local_file import LocalFileDataset
from multimodal_fusion.datasets.versioned import RunVersioned


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


class RunNpzDataset(RunVersioned, AbstractVersionedDataset[dict, dict]):
    """`NpzDataset` with a version per run: what the steps of an orchestrated run hand
    each other (conf/airflow), where one file would be overwritten by the next DAG run
    before this one's next step reads it."""

    def __init__(self, filepath: str, version: Version | None = None, map_from_mb: float = 16,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version,
                         exists_function=lambda path: Path(path).is_file())
        self._map_from = int(map_from_mb * (1 << 20))
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        return read_npz(Path(self._get_load_path()), map_from=self._map_from)

    def save(self, data: dict[str, np.ndarray]) -> None:
        write_npz(Path(self._get_save_path()), data)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version,
                "map_from_bytes": self._map_from}
