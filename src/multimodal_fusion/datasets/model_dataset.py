"""``TorchModelDataset``: a versioned classifier as safetensors weights plus a JSON spec.

Loading rebuilds the architecture from the spec and reads tensors only, so a model file
from a stranger cannot run code, unlike a pickled module. A strategy `compare` skipped is
stored as its spec alone, with the reason, and no weights.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io import AbstractVersionedDataset, DatasetError, Version
from safetensors.torch import load_file, save_file

from multimodal_fusion.models.classifier import SkippedStrategy, build_model

Model = torch.nn.Module | SkippedStrategy


class TorchModelDataset(AbstractVersionedDataset[Model, Model]):
    """Saves `<name>.safetensors` and `<name>.json` side by side in each version's folder."""

    def __init__(self, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(
            filepath=PurePosixPath(filepath), version=version,
            exists_function=lambda path: Path(path).is_file(),
        )
        self.metadata = metadata

    def load(self) -> Model:
        weights = Path(self._get_load_path())
        spec = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
        if "skipped" in spec:
            return SkippedStrategy(spec["fusion"], spec["skipped"])
        model = build_model(spec)
        try:
            model.load_state_dict(load_file(weights))
        except RuntimeError as error:
            raise DatasetError(
                f"{weights} does not fit the architecture its spec describes in this version "
                f"of multimodal_fusion; another version probably saved it. Retrain it with "
                f"`kedro run --pipeline=train`, or install the version that saved it.\n{error}"
            ) from error
        return model.eval()

    def save(self, data: Model) -> None:
        weights = Path(self._get_save_path())
        weights.parent.mkdir(parents=True, exist_ok=True)
        state = {} if isinstance(data, SkippedStrategy) else {
            name: tensor.detach().cpu().contiguous() for name, tensor in data.state_dict().items()}
        save_file(state, weights)
        weights.with_suffix(".json").write_text(json.dumps(data.spec, indent=2), encoding="utf-8")

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
