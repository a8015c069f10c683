"""``ManifestDataset``: a CSV or Parquet manifest, its file paths resolved against its folder."""

from __future__ import annotations

import pandas as pd
from kedro.io import DatasetError

from multimodal_fusion.datasets.local_file import LocalFileDataset
from multimodal_fusion.manifest import read_manifest, resolve_file_paths


class ManifestDataset(LocalFileDataset):
    """Read-only: a manifest is the user's input, never something a pipeline rewrites."""

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
