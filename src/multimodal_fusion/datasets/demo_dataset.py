"""``DemoFolderDataset``: the embedded demo as the folder of files it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from multimodal_fusion.demo.generator import DemoDataset, write_demo


class DemoFolderDataset(AbstractDataset[DemoDataset, pd.DataFrame]):
    """Saving writes the demo's images, audio, metadata and, last, its manifest into `path`
    (see `demo.generator.write_demo`); loading reads the manifest back."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    @property
    def path(self) -> Path:
        return self._path

    def load(self) -> pd.DataFrame:
        return pd.read_csv(self._path / "manifest.csv", dtype=str, keep_default_na=False)

    def save(self, data: DemoDataset) -> None:
        write_demo(data, self._path)

    def _exists(self) -> bool:
        return (self._path / "manifest.csv").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
