"""Join per-modality feature tables into model inputs, the spec of a model for them, and
tensors for a split of them: what training, evaluation and inference all read."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from multimodal_fusion.core.npz import read_rows, reordered
from multimodal_fusion.modalities import modality_names
from multimodal_fusion.modalities.common import FeatureTable

ModelInputs = dict[str, np.ndarray]

logger = logging.getLogger(__name__)
# `training.model.pretrained_features` for a model that reads every part of the features.
ALL_PRETRAINED_FEATURES = "all"


@dataclass
class Batch:
    """Tensors for a set of samples: inputs and presence per modality, and labels if known."""

    inputs: dict[str, Tensor]
    present: dict[str, Tensor]
    labels: Tensor | None

    def __len__(self) -> int:
        return len(next(iter(self.present.values())))

    def modalities_per_sample(self) -> list[str]:
        """Per sample, the modalities it has, joined with + ("audio+image")."""
        names = sorted(self.present)
        had = torch.stack([self.present[m] for m in names], dim=1).tolist()
        return ["+".join(m for m, on in zip(names, row, strict=True) if on) for row in had]

    def select(self, index: Tensor) -> Batch:
        """The samples at `index`, as a smaller batch."""
        return self._map(lambda t: t[index])

    def parts(self, size: int) -> Iterator[Batch]:
        """Every sample in order, `size` at a time, as predictions read them."""
        for start in range(0, len(self), size):
            yield self.select(torch.arange(start, min(start + size, len(self))))

    def to(self, device: torch.device) -> Batch:
        """Copy to `device` (see `to_device`)."""
        return self._map(lambda t: to_device(t, device))

    def _map(self, move: Callable[[Tensor], Tensor]) -> Batch:
        return Batch(
            {m: move(x) for m, x in self.inputs.items()},
            {m: move(p) for m, p in self.present.items()},
            None if self.labels is None else move(self.labels),
        )


def to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """`tensor` on `device`; from the CPU to CUDA through pinned memory, so that the copy
    queues behind the device's work instead of waiting for it."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


@dataclass(frozen=True)
class ModelSettings:
    """The model's shape; each field is documented in conf/base/parameters_training.yml."""

    fusion: str
    fusion_options: dict
    embedding_dim: int
    hidden_dim: int
    cnn_width: int
    pretrained_features: str
    dropout: float
    standardise: tuple[str, ...] | list[str]


def assemble_model_inputs(manifest: pd.DataFrame, tables: dict[str, FeatureTable]) -> ModelInputs:
    """Align every modality's table to the manifest's samples.

    A modality that no training sample has is left out, since nothing could learn it; with
    none left the run stops, saying what a manifest needs.
    """
    sample_ids = manifest["sample_id"].to_numpy(dtype=str)
    arrays: ModelInputs = {
        "sample_id": sample_ids,
        "label": manifest["label"].to_numpy(dtype=str),
        "split": manifest["split"].to_numpy(dtype=str),
    }
    train = arrays["split"] == "train"
    for modality, table in sorted(tables.items()):
        position = {sample_id: i for i, sample_id in enumerate(table["sample_id"])}
        missing = [s for s in sample_ids if s not in position]
        if missing:
            raise ValueError(
                f"{modality} features lack sample {missing[0]!r}; rerun the features pipeline"
            )
        order = np.array([position[s] for s in sample_ids], dtype=int)
        if not table["present"][order][train].any():
            logger.info("No training sample has %s: the model is built without it", modality)
            continue
        aligned = len(order) == len(table["values"]) and (order == np.arange(len(order))).all()
        # Tables come in the manifest's order: then values left on disk stay there, uncopied.
        arrays[modality] = table["values"] if aligned else reordered(table["values"], order)
        arrays[f"{modality}_present"] = table["present"][order]
        arrays[f"{modality}_encoder"] = table["encoder"]
        arrays[f"{modality}_encoder_options"] = table["encoder_options"]
    if not modalities_of(arrays):
        raise ValueError(
            f"no training sample has any modality ({', '.join(modality_names())}): give the "
            "manifest an image, text or audio column with cells filled in, or name tabular "
            "columns in tabular.preprocessing")
    return arrays


def modalities_of(model_inputs: ModelInputs) -> list[str]:
    """The modalities the inputs carry, sorted."""
    return sorted(key.removesuffix("_present") for key in model_inputs if key.endswith("_present"))


def model_spec(model_inputs: ModelInputs, modalities: list[str], settings: ModelSettings) -> dict:
    """The spec of a model of these modalities, each with the encoder its features name.

    The strategy registry adds which strategy the model is and that strategy's options.
    """
    unknown = sorted(set(settings.standardise) - set(modality_names()))
    if unknown:
        raise ValueError(f"training.model.standardise names {', '.join(unknown)}; choose among "
                         f"{', '.join(modality_names())}")
    specs = {}
    for modality in modalities:
        options = json.loads(str(model_inputs[f"{modality}_encoder_options"]))
        specs[modality] = {
            "encoder": str(model_inputs[f"{modality}_encoder"]),
            "input_shape": list(model_inputs[modality].shape[1:]),
            "standardise": modality in settings.standardise,
            **options,
            **pretrained_columns(modality, options, settings.pretrained_features),
        }
    return {
        "classes": sorted(set(model_inputs["label"].tolist())),
        "modalities": specs,
        "embedding_dim": settings.embedding_dim,
        "hidden_dim": settings.hidden_dim,
        "cnn_width": settings.cnn_width,
        "dropout": settings.dropout,
    }


def pretrained_columns(modality: str, options: dict, kind: str) -> dict:
    """The columns of a modality's pretrained features that a model reads when
    `training.model.pretrained_features` is `kind` (the spec's `pretrained_columns`):
    nothing to add when it reads them all, or when the features come in one part."""
    parts = options.get("pretrained_parts")
    if kind == ALL_PRETRAINED_FEATURES or parts is None:
        return {}
    unknown = sorted(set(kind.split("+")) - set(parts))
    if unknown:
        raise ValueError(
            f"training.model.pretrained_features {kind!r}: the {modality} features hold no "
            f"{', '.join(unknown)} (their parts: {', '.join(parts)}); compute them with "
            f"{modality}.features.pretrained_features: head+grid, which holds both parts, or "
            f"set this to all or to parts they hold, joined by +")
    return {"pretrained_columns": [parts[part] for part in kind.split("+")]}


def batch_for_split(model_inputs: ModelInputs, split: str, spec: dict) -> Batch:
    """One split's samples as tensors for the model `spec` describes.

    Only the spec's modalities are taken, and labels are encoded by their index in the
    spec's classes.
    """
    rows = model_inputs["split"] == split
    return Batch(
        {m: torch.from_numpy(read_rows(model_inputs[m], np.flatnonzero(rows)))
         for m in spec["modalities"]},
        {m: torch.from_numpy(model_inputs[f"{m}_present"][rows]) for m in spec["modalities"]},
        split_labels(model_inputs, split, spec),
    )


def drawn_positions(count: int, limit: int | None, seed: int) -> np.ndarray | None:
    """At most `limit` of `count` positions, drawn with the seed and sorted, so a split too
    large for a costly step is measured on a fixed sample of itself; None keeps them all."""
    if limit is None or count <= limit:
        return None
    return np.sort(np.random.default_rng([seed, count]).choice(count, limit, replace=False))


class StoredSplit:
    """One labelled split, read a part at a time: the values stay where the model inputs keep
    them (a file, for the features stage's store) until a part asks for them, so reading a
    split costs one part's memory. Presence and labels are small and read whole."""

    def __init__(self, model_inputs: ModelInputs, split: str, spec: dict) -> None:
        self.rows = np.flatnonzero(model_inputs["split"] == split)
        self.arrays = {m: model_inputs[m] for m in spec["modalities"]}
        self.present = {m: torch.from_numpy(model_inputs[f"{m}_present"][self.rows])
                        for m in spec["modalities"]}
        self.labels = split_labels(model_inputs, split, spec)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, positions: np.ndarray) -> StoredSplit:
        """The split's samples at these positions (of its own order), in that order."""
        part = copy.copy(self)
        index = torch.from_numpy(np.asarray(positions, dtype=np.int64))
        part.rows = self.rows[positions]
        part.present = {m: p[index] for m, p in self.present.items()}
        part.labels = self.labels[index]
        return part

    def values(self, modality: str, start: int, stop: int) -> Tensor:
        """The values of one modality for the split's samples `start` to `stop`."""
        return torch.from_numpy(read_rows(self.arrays[modality], self.rows[start:stop]))

    def bounds(self, size: int) -> list[tuple[int, int]]:
        """The first and past-the-last sample of each part of `size` samples."""
        return [(start, min(start + size, len(self))) for start in range(0, len(self), size)]

    def parts(self, size: int) -> Iterator[Batch]:
        """Every sample in order, `size` at a time, as predictions read them."""
        for start, stop in self.bounds(size):
            yield Batch({m: self.values(m, start, stop) for m in self.arrays},
                        {m: p[start:stop] for m, p in self.present.items()},
                        self.labels[start:stop])

    def modalities_per_sample(self) -> list[str]:
        """Per sample, the modalities it has (see `Batch.modalities_per_sample`)."""
        return Batch({}, self.present, self.labels).modalities_per_sample()


def split_labels(model_inputs: ModelInputs, split: str, spec: dict) -> Tensor:
    """One split's labels, each by its index in the spec's classes."""
    index = {name: i for i, name in enumerate(spec["classes"])}
    return torch.tensor([index[label] for label in model_inputs["label"][
        model_inputs["split"] == split]], dtype=torch.long)
