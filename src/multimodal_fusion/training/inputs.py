"""Join per-modality feature tables into model inputs, and turn a split of them into tensors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from multimodal_fusion.fusion import modalities_for
from multimodal_fusion.modalities import FeatureTable

ModelInputs = dict[str, np.ndarray]

logger = logging.getLogger(__name__)


@dataclass
class Batch:
    """Tensors for a set of samples: inputs and presence per modality, and labels if known."""

    inputs: dict[str, Tensor]
    present: dict[str, Tensor]
    labels: Tensor | None

    def __len__(self) -> int:
        return len(next(iter(self.present.values())))

    def select(self, index: Tensor) -> Batch:
        """The samples at `index`, as a smaller batch."""
        return self._map(lambda t: t[index])

    def to(self, device: torch.device) -> Batch:
        """Copy to `device`; for CUDA through pinned memory, so the copy does not block."""
        if device.type != "cuda":
            return self._map(lambda t: t.to(device))
        return self._map(lambda t: t.pin_memory().to(device, non_blocking=True))

    def _map(self, move: Callable[[Tensor], Tensor]) -> Batch:
        return Batch(
            {m: move(x) for m, x in self.inputs.items()},
            {m: move(p) for m, p in self.present.items()},
            None if self.labels is None else move(self.labels),
        )


def assemble_model_inputs(manifest: pd.DataFrame, tables: dict[str, FeatureTable]) -> ModelInputs:
    """Align every modality's table to the manifest's samples; drop modalities nobody has."""
    sample_ids = manifest["sample_id"].to_numpy(dtype=str)
    arrays: ModelInputs = {
        "sample_id": sample_ids,
        "label": manifest["label"].to_numpy(dtype=str),
        "split": manifest["split"].to_numpy(dtype=str),
    }
    for modality, table in sorted(tables.items()):
        if not table["present"].any():
            logger.info("No sample has %s: the model is built without it", modality)
            continue
        position = {sample_id: i for i, sample_id in enumerate(table["sample_id"])}
        missing = [s for s in sample_ids if s not in position]
        if missing:
            raise ValueError(
                f"{modality} features lack sample {missing[0]!r}; rerun the features pipeline"
            )
        order = np.array([position[s] for s in sample_ids], dtype=int)
        arrays[modality] = table["values"][order]
        arrays[f"{modality}_present"] = table["present"][order]
        arrays[f"{modality}_encoder"] = table["encoder"]
        arrays[f"{modality}_encoder_options"] = table["encoder_options"]
    return arrays


def modalities_of(model_inputs: ModelInputs) -> list[str]:
    """The modalities the inputs carry, sorted."""
    return sorted(key.removesuffix("_present") for key in model_inputs if key.endswith("_present"))


def model_spec(model_inputs: ModelInputs, settings: dict) -> dict:
    """The classifier spec for these inputs, each modality with the encoder its features name.

    A unimodal baseline's spec keeps only its modality, so its model never sees the others.
    """
    modalities = {}
    for modality in modalities_for(settings["fusion"], modalities_of(model_inputs)):
        shape = list(model_inputs[modality].shape[1:])
        modalities[modality] = {
            "encoder": str(model_inputs[f"{modality}_encoder"]),
            "input_shape": shape,
            "standardise": modality in settings.get("standardise", ()),
            **json.loads(str(model_inputs[f"{modality}_encoder_options"])),
        }
    return {
        "classes": sorted(set(model_inputs["label"].tolist())),
        "modalities": modalities,
        "fusion": settings["fusion"],
        "fusion_options": settings.get("fusion_options", {}),
        "embedding_dim": settings["embedding_dim"],
        "hidden_dim": settings["hidden_dim"],
        "dropout": settings["dropout"],
    }


def batch_for_split(model_inputs: ModelInputs, split: str, spec: dict) -> Batch:
    """One split's samples as tensors for the model `spec` describes.

    Only the spec's modalities are taken, and labels are encoded by their index in the
    spec's classes.
    """
    rows = model_inputs["split"] == split
    index = {name: i for i, name in enumerate(spec["classes"])}
    labels = torch.tensor([index[label] for label in model_inputs["label"][rows]])
    return Batch(
        {m: torch.from_numpy(model_inputs[m][rows]) for m in spec["modalities"]},
        {m: torch.from_numpy(model_inputs[f"{m}_present"][rows]) for m in spec["modalities"]},
        labels,
    )
