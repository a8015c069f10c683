"""``OptionalJSONDataset``: a JSON file that may legitimately be absent; loads {} then."""

from __future__ import annotations

import json

from kedro.io import DatasetError

from multimodal_fusion.datasets.local_file import LocalFileDataset


class OptionalJSONDataset(LocalFileDataset):
    """For side information such as the demo's corruption record, which user data lacks."""

    def load(self) -> dict:
        if not self._filepath.is_file():
            return {}
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def save(self, data: dict) -> None:
        raise DatasetError("OptionalJSONDataset is read-only")
