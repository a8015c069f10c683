"""Helpers every fusion strategy shares: stacking modalities and masking the missing ones."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

# A score this low vanishes in a softmax, yet stays finite in float16 and bfloat16.
MASKED_SCORE = -1e4


@dataclass(frozen=True)
class NoOptions:
    """The settings of a strategy that takes no options of its own."""


@dataclass(frozen=True)
class FusionShape:
    """What every strategy is sized by: each modality's embedding width, the width of hidden
    layers, the number of classes and the dropout rate. Every strategy takes it and its own
    settings, and uses the parts it needs."""

    embedding_dims: dict[str, int]
    hidden_dim: int
    num_classes: int
    dropout: float


def presence_matrix(present: dict[str, Tensor], modalities: list[str]) -> Tensor:
    """(batch, modalities) boolean mask, in the sorted modality order."""
    return torch.stack([present[m].bool() for m in modalities], dim=1)


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = 1) -> Tensor:
    """Softmax over present entries only; a sample with none present gets all-zero weights."""
    weights = torch.softmax(scores.masked_fill(~mask, MASKED_SCORE), dim=dim)
    return weights * mask.to(weights.dtype)


class Projections(nn.Module):
    """One linear map per modality into a shared width, so modalities can be added or stacked."""

    def __init__(self, embedding_dims: dict[str, int], width: int) -> None:
        super().__init__()
        self.modalities = sorted(embedding_dims)
        self.layers = nn.ModuleDict(
            {m: nn.Linear(embedding_dims[m], width) for m in self.modalities}
        )

    def forward(self, embeddings: dict[str, Tensor]) -> Tensor:
        """(batch, modalities, width), in the sorted modality order."""
        return torch.stack([self.layers[m](embeddings[m]) for m in self.modalities], dim=1)
