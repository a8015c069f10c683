"""A small transformer encoder over one token per modality, read out at a class token."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from multimodal_fusion.fusion.common import FusionShape, Projections, presence_matrix


@dataclass(frozen=True)
class TransformerSettings:
    """`heads`: attention heads (must divide hidden_dim); `layers`: encoder layers."""

    heads: int
    layers: int


class TransformerFusion(nn.Module):
    """Modalities attend to each other; missing ones are masked out of attention entirely."""

    Settings = TransformerSettings

    def __init__(self, shape: FusionShape, settings: TransformerSettings) -> None:
        super().__init__()
        heads, layers, hidden_dim = settings.heads, settings.layers, shape.hidden_dim
        if hidden_dim % heads:
            raise ValueError(f"hidden_dim {hidden_dim} must be divisible by heads {heads}")
        self.modalities = sorted(shape.embedding_dims)
        self.project = Projections(shape.embedding_dims, hidden_dim)
        self.modality_tokens = nn.Parameter(torch.randn(len(self.modalities), hidden_dim) * 0.02)
        self.class_token = nn.Parameter(torch.randn(1, 1, hidden_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(hidden_dim, heads, 2 * hidden_dim, shape.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_dim)
        self.output_dim = hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        tokens = self.project(embeddings) + self.modality_tokens
        batch = tokens.shape[0]
        tokens = torch.cat([self.class_token.expand(batch, -1, -1), tokens], dim=1)
        keep = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=tokens.device),
                          presence_matrix(present, self.modalities)], dim=1)
        return self.norm(self.encoder(tokens, src_key_padding_mask=~keep)[:, 0])
