"""Concatenation fusion and its learned variant, an MLP over the concatenation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from multimodal_fusion.fusion.common import NoOptions


class ConcatFusion(nn.Module):
    """Concatenate embeddings, zeroed where a modality is missing, plus the presence mask.

    The mask itself is appended so the head can tell "missing" from "present but all zero".
    """

    Settings = NoOptions

    def __init__(self, embedding_dims: dict[str, int], **_: object) -> None:
        super().__init__()
        self.modalities = sorted(embedding_dims)
        self.output_dim = sum(embedding_dims.values()) + len(embedding_dims)

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        masks = [present[m].to(embeddings[m].dtype).unsqueeze(1) for m in self.modalities]
        parts = [embeddings[m] * mask for m, mask in zip(self.modalities, masks, strict=True)]
        return torch.cat(parts + masks, dim=1)


class MLPFusion(nn.Module):
    """Neural-network fusion: the masked concatenation through a hidden layer."""

    Settings = NoOptions

    def __init__(self, embedding_dims: dict[str, int], hidden_dim: int, dropout: float = 0.0,
                 **_: object) -> None:
        super().__init__()
        self.concat = ConcatFusion(embedding_dims)
        self.net = nn.Sequential(
            nn.Linear(self.concat.output_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
        )
        self.output_dim = hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.net(self.concat(embeddings, present))
