"""Fusions that add projected modalities with weights: fixed or learned, global or per sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from multimodal_fusion.fusion.common import (
    FusionShape,
    NoOptions,
    Projections,
    masked_softmax,
    presence_matrix,
)


@dataclass(frozen=True)
class WeightedSumSettings:
    """`weights`: a fixed weight per modality ({image: 1.0, ...}); null learns them."""

    weights: dict[str, float] | None


class WeightedSumFusion(nn.Module):
    """A weighted sum of embeddings projected to one width.

    The weights are a softmax over one learned score per modality, or fixed from parameters
    (`weights: {image: 0.5, ...}`); either way they are renormalised over the modalities a
    sample has.
    """

    Settings = WeightedSumSettings

    def __init__(self, shape: FusionShape, settings: WeightedSumSettings) -> None:
        super().__init__()
        weights = settings.weights
        self.modalities = sorted(shape.embedding_dims)
        self.project = Projections(shape.embedding_dims, shape.hidden_dim)
        if weights is None:
            self.scores = nn.Parameter(torch.zeros(len(self.modalities)))
        else:
            unweighted = sorted(set(self.modalities) - set(weights))
            if unweighted:
                raise ValueError(f"weighted_sum weights {weights} lack {', '.join(unweighted)}; "
                                 "give every modality a weight, or null to learn them")
            fixed = torch.tensor([float(weights[m]) for m in self.modalities])
            if (fixed < 0).any() or fixed.sum() <= 0:
                raise ValueError(f"weighted_sum weights must be non-negative, not all 0: {weights}")
            self.register_buffer("scores", fixed.log())
        self.output_dim = shape.hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        stacked = self.project(embeddings)
        mask = presence_matrix(present, self.modalities)
        weights = masked_softmax(self.scores.expand(mask.shape[0], -1), mask)
        return (weights.unsqueeze(2) * stacked).sum(dim=1)


class AttentionFusion(nn.Module):
    """Attention over modalities: each sample weighs its own modalities by a learned score."""

    Settings = NoOptions

    def __init__(self, shape: FusionShape, settings: NoOptions) -> None:
        super().__init__()
        hidden_dim = shape.hidden_dim
        self.modalities = sorted(shape.embedding_dims)
        self.project = Projections(shape.embedding_dims, hidden_dim)
        self.score = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.Tanh(),
                                   nn.Linear(hidden_dim, 1, bias=False))
        self.output_dim = hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        stacked = self.project(embeddings)
        mask = presence_matrix(present, self.modalities)
        weights = masked_softmax(self.score(stacked).squeeze(2), mask)
        return (weights.unsqueeze(2) * stacked).sum(dim=1)


class GatedFusion(nn.Module):
    """Gated multimodal unit (Arevalo et al., 2017): gates computed from all modalities.

    Each modality gives a candidate tanh(W_m e_m); a gate per modality and feature, computed
    from the whole (masked) concatenation, decides how much of each candidate passes.
    """

    Settings = NoOptions

    def __init__(self, shape: FusionShape, settings: NoOptions) -> None:
        super().__init__()
        dims = shape.embedding_dims
        self.modalities = sorted(dims)
        self.candidates = Projections(dims, shape.hidden_dim)
        self.gates = nn.Linear(sum(dims.values()), shape.hidden_dim * len(self.modalities))
        self.output_dim = shape.hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        mask = presence_matrix(present, self.modalities)
        masked = [embeddings[m] * mask[:, i:i + 1].to(embeddings[m].dtype)
                  for i, m in enumerate(self.modalities)]
        candidates = torch.tanh(self.candidates(dict(zip(self.modalities, masked, strict=True))))
        scores = self.gates(torch.cat(masked, dim=1)).view(*candidates.shape)
        gates = masked_softmax(scores, mask.unsqueeze(2).expand_as(scores))
        return (gates * candidates).sum(dim=1)
