"""Concatenation fusion and its learned variant, an MLP over the concatenation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from multimodal_fusion.fusion.common import FusionShape, NoOptions


class ConcatFusion(nn.Module):
    """Concatenate embeddings, zeroed where a modality is missing, plus the presence mask.

    The mask itself is appended so the head can tell "missing" from "present but all zero".
    """

    Settings = NoOptions

    def __init__(self, shape: FusionShape, settings: NoOptions) -> None:
        super().__init__()
        self.modalities = sorted(shape.embedding_dims)
        self.output_dim = sum(shape.embedding_dims.values()) + len(self.modalities)

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        masks = [present[m].to(embeddings[m].dtype).unsqueeze(1) for m in self.modalities]
        parts = [embeddings[m] * mask for m, mask in zip(self.modalities, masks, strict=True)]
        return torch.cat(parts + masks, dim=1)


class MLPFusion(nn.Module):
    """Neural-network fusion: the masked concatenation through a hidden layer."""

    Settings = NoOptions

    def __init__(self, shape: FusionShape, settings: NoOptions) -> None:
        super().__init__()
        hidden = shape.hidden_dim
        self.concat = ConcatFusion(shape, settings)
        self.net = nn.Sequential(
            nn.Linear(self.concat.output_dim, hidden), nn.ReLU(), nn.Dropout(shape.dropout),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.output_dim = hidden

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.net(self.concat(embeddings, present))
