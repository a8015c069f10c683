"""Concatenation fusion: the simplest strategy, and the baseline every other must beat."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConcatFusion(nn.Module):
    """Concatenate embeddings, zeroed where a modality is missing, plus the presence mask.

    The mask itself is appended so the head can tell "missing" from "present but all zero".
    """

    def __init__(self, embedding_dims: dict[str, int]) -> None:
        super().__init__()
        self.modalities = sorted(embedding_dims)
        self.output_dim = sum(embedding_dims.values()) + len(embedding_dims)

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        masks = [present[m].to(embeddings[m].dtype).unsqueeze(1) for m in self.modalities]
        parts = [embeddings[m] * mask for m, mask in zip(self.modalities, masks, strict=True)]
        return torch.cat(parts + masks, dim=1)
