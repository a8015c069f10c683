"""``OptionalJSONDataset``: a JSON file that may legitimately be absent; loads {} then."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class OptionalJSONDataset(AbstractDataset[None, dict]):
    """For side information such as the demo's corruption record, which user data lacks."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        if not self._filepath.is_file():
            return {}
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def save(self, data: dict) -> None:
        raise DatasetError("OptionalJSONDataset is read-only")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
