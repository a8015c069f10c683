"""``ManifestDataset``: a CSV or Parquet manifest, its file paths resolved against its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from multimodal_fusion.manifest import read_manifest, resolve_file_paths


class ManifestDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only: a manifest is the user's input, never something a pipeline rewrites."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        if not self._filepath.is_file():
            raise DatasetError(
                f"Manifest {self._filepath} does not exist. Pass one with "
                "`kedro run --params=manifest=/path/to/manifest.csv`, or run without it to use "
                "the demo dataset"
            )
        return resolve_file_paths(read_manifest(self._filepath), self._filepath.parent)

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError("ManifestDataset is read-only; the manifest is the user's input")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
