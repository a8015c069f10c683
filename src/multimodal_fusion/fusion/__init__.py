"""Fusion strategies, one `nn.Module` each, found by name. No Kedro.

Every strategy takes per-modality embeddings (a dict keyed by modality) and a presence mask
(a dict of boolean vectors) and returns one fused vector per sample; its `output_dim` tells
the head how wide that vector is.
"""

from __future__ import annotations

from torch import nn

from multimodal_fusion.fusion.concat import ConcatFusion

FUSION_STRATEGIES: dict[str, type[nn.Module]] = {"concat": ConcatFusion}


def build_fusion(name: str, embedding_dims: dict[str, int]) -> nn.Module:
    """The strategy registered as `name`, sized for these modalities."""
    if name not in FUSION_STRATEGIES:
        raise ValueError(
            f"unknown fusion strategy {name!r}; choose one of {', '.join(FUSION_STRATEGIES)}"
        )
    return FUSION_STRATEGIES[name](embedding_dims)
