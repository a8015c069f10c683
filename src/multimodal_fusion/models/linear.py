"""Linear reference baselines: logistic regression on a fixed vector per modality. No Kedro.

They answer a user's first question about a leaderboard: does deep fusion earn its cost
here? `linear_early` is one logistic regression on every modality's vector, standardised,
each block scaled to the same expected norm (so the widest block does not swamp the
others) and a missing flag per modality. `linear_late` is one logistic regression per
modality, their class probabilities stacked by a second one.

A modality that feeds a trainable encoder gets a cheap fixed vector: image tensors and
log-mel spectrograms average-pooled to at most 16 x 16 cells, word ids counted as a bag of
words. Vectors that are already features (TF-IDF, MFCC, frozen network features, tabular)
are taken as they are.

The models are fitted with scikit-learn (`training.linear`) and kept here as tensors in a
module whose forward pass gives the same logits, so they are stored, loaded and evaluated
exactly like the neural classifiers, never pickled.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

POOLED_SIDE = 16


def fixed_width(modality: dict) -> int:
    """The length of the fixed vector a modality's spec gives (see `fixed_vector`)."""
    shape = modality["input_shape"]
    if modality["encoder"] == "embedding_bag":
        return modality["vocab_size"]
    if len(shape) == 3:
        return shape[0] * min(shape[1], POOLED_SIDE) * min(shape[2], POOLED_SIDE)
    return math.prod(shape)


def fixed_vector(values: Tensor, modality: dict) -> Tensor:
    """A cheap, fixed vector per sample: pooled cells, a bag of words, or the vector itself."""
    if modality["encoder"] == "embedding_bag":
        counts = torch.zeros(len(values), modality["vocab_size"], device=values.device)
        counts.scatter_add_(1, values, torch.ones_like(values, dtype=counts.dtype))
        counts[:, 0] = 0.0  # padding is no word
        return counts
    if values.dim() == 4:
        side = (min(values.shape[2], POOLED_SIDE), min(values.shape[3], POOLED_SIDE))
        return functional.adaptive_avg_pool2d(values.float(), side).flatten(1)
    return values.float().flatten(1)


def fixed_vectors(spec: dict, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """The fixed vector of each modality of the spec that `inputs` holds."""
    return {m: fixed_vector(inputs[m], spec["modalities"][m]) for m in sorted(spec["modalities"])
            if m in inputs}


def frozen(*shape: int) -> nn.Parameter:
    """A parameter set by fitting, never by gradients."""
    return nn.Parameter(torch.zeros(*shape), requires_grad=False)


class ModalityScaler(nn.Module):
    """Standardise a modality's fixed vector, scale the block to unit expected norm, and zero
    it where the modality is missing."""

    def __init__(self, modality: dict) -> None:
        super().__init__()
        self.modality = modality
        self.mean = frozen(fixed_width(modality))
        self.scale = frozen(fixed_width(modality))

    def scaled(self, values: Tensor) -> Tensor:
        """The standardised, scaled vector of every sample, present or not."""
        return self.standardised(fixed_vector(values, self.modality))

    def standardised(self, fixed: Tensor) -> Tensor:
        """`scaled` of samples whose fixed vectors are already made."""
        return (fixed - self.mean) * self.scale

    def forward(self, values: Tensor, present: Tensor) -> Tensor:
        return masked(self.scaled(values), present)


def masked(values: Tensor, present: Tensor) -> Tensor:
    """`values` with the rows of missing samples zeroed."""
    return values * present.unsqueeze(1).to(values.dtype)


def missing_flags(present: dict[str, Tensor], modalities: list[str]) -> list[Tensor]:
    """A column per modality: 1 where a sample lacks it."""
    return [(~present[m].bool()).float().unsqueeze(1) for m in modalities]


class LinearEarly(nn.Module):
    """One logistic regression over every modality's scaled vector and the missing flags."""

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self.spec = spec
        self.modalities = sorted(spec["modalities"])
        self.scalers = nn.ModuleDict({m: ModalityScaler(spec["modalities"][m])
                                      for m in self.modalities})
        width = sum(fixed_width(spec["modalities"][m]) for m in self.modalities)
        self.weight = frozen(len(spec["classes"]), width + len(self.modalities))
        self.bias = frozen(len(spec["classes"]))

    def design(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """The regression's inputs: scaled blocks side by side, then a missing flag each."""
        blocks = [masked(embeddings[m], present[m]) for m in self.modalities]
        return torch.cat(blocks + missing_flags(present, self.modalities), dim=1)

    def embed(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each modality's scaled vector, before missing samples are zeroed."""
        return self.embed_fixed(fixed_vectors(self.spec, inputs))

    def embed_fixed(self, fixed: dict[str, Tensor]) -> dict[str, Tensor]:
        """`embed` of samples whose fixed vectors are already made (see `fixed_vectors`)."""
        return {m: self.scalers[m].standardised(vectors) for m, vectors in fixed.items()}

    def fuse(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.design(embeddings, present) @ self.weight.T + self.bias

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.fuse(self.embed(inputs), present)


class LinearLate(nn.Module):
    """A logistic regression per modality; a second one over their stacked probabilities
    (zeros where the modality is missing) and the missing flags."""

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self.spec = spec
        self.modalities = sorted(spec["modalities"])
        classes = len(spec["classes"])
        self.scalers = nn.ModuleDict({m: ModalityScaler(spec["modalities"][m])
                                      for m in self.modalities})
        self.weights = nn.ParameterDict({
            m: frozen(classes, fixed_width(spec["modalities"][m])) for m in self.modalities})
        self.biases = nn.ParameterDict({m: frozen(classes) for m in self.modalities})
        self.stack_weight = frozen(classes, (classes + 1) * len(self.modalities))
        self.stack_bias = frozen(classes)

    def modality_logits(self, modality: str, fixed: Tensor) -> Tensor:
        """The modality's own regression's logits from its fixed vectors, for every sample,
        present or not."""
        scaled = self.scalers[modality].standardised(fixed)
        return scaled @ self.weights[modality].T + self.biases[modality]

    def design(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """The stacking regression's inputs: each modality's probabilities, then the flags."""
        stacked = [masked(torch.softmax(embeddings[m], dim=1), present[m])
                   for m in self.modalities]
        return torch.cat(stacked + missing_flags(present, self.modalities), dim=1)

    def embed(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each modality's own logits: a missing sample's row is zeroed after the softmax."""
        return self.embed_fixed(fixed_vectors(self.spec, inputs))

    def embed_fixed(self, fixed: dict[str, Tensor]) -> dict[str, Tensor]:
        """`embed` of samples whose fixed vectors are already made (see `fixed_vectors`)."""
        return {m: self.modality_logits(m, vectors) for m, vectors in fixed.items()}

    def fuse(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.design(embeddings, present) @ self.stack_weight.T + self.stack_bias

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.fuse(self.embed(inputs), present)
