"""Tensor fusion and its low-rank factorisation: multiplicative interactions of modalities."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from multimodal_fusion.fusion.common import FusionShape, Projections, presence_matrix


def with_bias_one(projected: Tensor, mask: Tensor) -> Tensor:
    """Zero missing modalities and append a constant 1, which keeps unimodal terms alive."""
    ones = torch.ones(*projected.shape[:2], 1, dtype=projected.dtype, device=projected.device)
    return torch.cat([projected * mask.unsqueeze(2).to(projected.dtype), ones], dim=2)


@dataclass(frozen=True)
class TensorSettings:
    """`tensor_dim`: features per modality before the outer product."""

    tensor_dim: int


@dataclass(frozen=True)
class LowRankSettings:
    """`rank`: the rank of the factorised fusion weight."""

    rank: int


class TensorFusion(nn.Module):
    """Tensor fusion (Zadeh et al., 2017): the outer product of [z_m, 1] over modalities.

    Each embedding is first projected to `tensor_dim` features, since the product has
    (tensor_dim + 1) ** modalities entries. The product is layer-normalised: its scale is
    that of the embeddings raised to the number of modalities, and without the norm it fell
    below a single modality on Tux Paint (benchmarks/README.md).
    """

    Settings = TensorSettings

    def __init__(self, shape: FusionShape, settings: TensorSettings) -> None:
        super().__init__()
        self.modalities = sorted(shape.embedding_dims)
        self.project = Projections(shape.embedding_dims, settings.tensor_dim)
        self.output_dim = (settings.tensor_dim + 1) ** len(self.modalities)
        self.norm = nn.LayerNorm(self.output_dim)

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        mask = presence_matrix(present, self.modalities)
        factors = with_bias_one(self.project(embeddings), mask)
        fused = factors[:, 0]
        for i in range(1, factors.shape[1]):
            fused = (fused.unsqueeze(2) * factors[:, i].unsqueeze(1)).flatten(1)
        return self.norm(fused)


class LowRankFusion(nn.Module):
    """Low-rank multimodal fusion (Liu et al., 2018): tensor fusion with a rank-r weight.

    The product of per-modality linear maps of [e_m, 1], summed over r ranks, equals a linear
    map of the full outer product without ever building it; layer-normalised, as tensor
    fusion's product is.
    """

    Settings = LowRankSettings

    def __init__(self, shape: FusionShape, settings: LowRankSettings) -> None:
        super().__init__()
        rank, hidden_dim = settings.rank, shape.hidden_dim
        self.modalities = sorted(shape.embedding_dims)
        self.factors = nn.ParameterDict({
            m: nn.Parameter(torch.randn(rank, shape.embedding_dims[m] + 1, hidden_dim) * 0.1)
            for m in self.modalities
        })
        self.rank_weights = nn.Parameter(torch.full((1, rank), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(hidden_dim))
        self.output_dim = hidden_dim
        self.norm = nn.LayerNorm(hidden_dim)

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        mask = presence_matrix(present, self.modalities)
        fused = None
        for i, m in enumerate(self.modalities):
            z = with_bias_one(embeddings[m].unsqueeze(1), mask[:, i:i + 1]).squeeze(1)
            term = torch.einsum("bd,rdh->brh", z, self.factors[m])
            fused = term if fused is None else fused * term
        return self.norm(torch.einsum("xr,brh->bh", self.rank_weights, fused) + self.bias)
