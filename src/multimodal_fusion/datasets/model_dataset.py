"""``TorchModelDataset``: a versioned model as safetensors weights plus a JSON spec.

Loading rebuilds the architecture the strategy registry names in the spec and reads
tensors only (see `models.storage`), so a model file from a stranger cannot run code.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version
from torch import nn

from multimodal_fusion.datasets.versioned import RunVersioned
from multimodal_fusion.models.storage import ModelFileError, load_model, save_model
from multimodal_fusion.training.strategies import build_model


class TorchModelDataset(RunVersioned, AbstractVersionedDataset[nn.Module, nn.Module]):
    """Saves `<name>.safetensors` and `<name>.json` side by side in each version's folder."""

    def __init__(self, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(
            filepath=PurePosixPath(filepath), version=version,
            exists_function=lambda path: Path(path).is_file(),
        )
        self.metadata = metadata

    def load(self) -> nn.Module:
        try:
            return load_model(Path(self._get_load_path()), build_model)
        except ModelFileError as error:
            raise DatasetError(str(error)) from error

    def save(self, data: nn.Module) -> None:
        save_model(data, Path(self._get_save_path()))

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
