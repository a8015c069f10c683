"""Late fusion: every modality classifies on its own; their logits are averaged with weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from multimodal_fusion.fusion.common import NoOptions, masked_softmax, presence_matrix


class LateFusion(nn.Module):
    """A head per modality, logits combined by learned weights renormalised over present ones.

    It outputs logits itself, so the classifier puts no head after it (`produces_logits`).
    """

    produces_logits = True
    Settings = NoOptions

    def __init__(self, embedding_dims: dict[str, int], hidden_dim: int, num_classes: int,
                 dropout: float = 0.0, **_: object) -> None:
        super().__init__()
        self.modalities = sorted(embedding_dims)
        self.heads = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(embedding_dims[m], hidden_dim), nn.ReLU(),
                             nn.Dropout(dropout), nn.Linear(hidden_dim, num_classes))
            for m in self.modalities
        })
        self.scores = nn.Parameter(torch.zeros(len(self.modalities)))
        self.output_dim = num_classes

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        logits = torch.stack([self.heads[m](embeddings[m]) for m in self.modalities], dim=1)
        mask = presence_matrix(present, self.modalities)
        weights = masked_softmax(self.scores.expand(mask.shape[0], -1), mask)
        return (weights.unsqueeze(2) * logits).sum(dim=1)
