"""``VersionedBytesDataset``: a file's bytes as they are, one version per run (an ONNX model)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, Version

from multimodal_fusion.datasets.versioned import RunVersioned


class VersionedBytesDataset(RunVersioned, AbstractVersionedDataset[bytes, bytes]):
    """Writes and reads the bytes unchanged; what they mean is the file format's business."""

    def __init__(self, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version,
                         exists_function=lambda path: Path(path).is_file())
        self.metadata = metadata

    def load(self) -> bytes:
        return Path(self._get_load_path()).read_bytes()

    def save(self, data: bytes) -> None:
        path = Path(self._get_save_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
