"""Late fusion: every modality classifies on its own; their logits are averaged with weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from multimodal_fusion.fusion.common import (
    FusionShape,
    NoOptions,
    masked_softmax,
    presence_matrix,
)


class LateFusion(nn.Module):
    """A head per modality, logits combined by learned weights renormalised over present ones.

    It outputs logits itself, so the classifier puts no head after it (`produces_logits`).
    """

    produces_logits = True
    Settings = NoOptions

    def __init__(self, shape: FusionShape, settings: NoOptions) -> None:
        super().__init__()
        self.modalities = sorted(shape.embedding_dims)
        self.heads = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(shape.embedding_dims[m], shape.hidden_dim), nn.ReLU(),
                             nn.Dropout(shape.dropout),
                             nn.Linear(shape.hidden_dim, shape.num_classes))
            for m in self.modalities
        })
        self.scores = nn.Parameter(torch.zeros(len(self.modalities)))
        self.output_dim = shape.num_classes

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        logits = torch.stack([self.heads[m](embeddings[m]) for m in self.modalities], dim=1)
        mask = presence_matrix(present, self.modalities)
        weights = masked_softmax(self.scores.expand(mask.shape[0], -1), mask)
        return (weights.unsqueeze(2) * logits).sum(dim=1)
