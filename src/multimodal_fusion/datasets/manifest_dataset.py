"""``ManifestDataset``: a manifest (CSV, TSV, Parquet, JSON Lines, Excel), read as the user
wrote it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import DatasetError

from multimodal_fusion.contract.importer import manifest_from_folder
from multimodal_fusion.contract.manifest import read_manifest
from multimodal_fusion.datasets.local_file import LocalFileDataset
from multimodal_fusion.modalities import manifest_columns


class ManifestDataset(LocalFileDataset):
    """Read-only: a manifest is the user's input, never something a pipeline rewrites.

    `encoding` is that of a CSV's, TSV's or JSON Lines' text; a CSV or TSV cell not valid in
    it is reported by validation, and costs that cell only. Paths stay as written:
    validation resolves and checks them. A folder instead of a file is read as a folder of
    samples (see `importer`).
    """

    def __init__(self, filepath: str, encoding: str,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._encoding = encoding

    @property
    def filepath(self) -> Path:
        return self._filepath

    def load(self) -> pd.DataFrame:
        if self._filepath.is_dir():
            return manifest_from_folder(self._filepath, self._encoding)
        if not self._filepath.is_file():
            raise DatasetError(
                f"Manifest {self._filepath} does not exist. Pass one with "
                "`kedro run --params=manifest=/path/to/manifest.csv`, or run without it to use "
                "the demo dataset"
            )
        return read_manifest(self._filepath, self._encoding, manifest_columns())

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError("ManifestDataset is read-only; the manifest is the user's input")

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return super()._describe() | {"encoding": self._encoding}
