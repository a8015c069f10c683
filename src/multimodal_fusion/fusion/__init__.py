"""Fusion strategies, one `nn.Module` each, found by name. No Kedro.

Every strategy takes per-modality embeddings (a dict keyed by modality) and a presence mask
(a dict of boolean vectors) and returns one fused vector per sample; its `output_dim` tells
the head how wide that vector is. A strategy with `produces_logits` returns class logits and
needs no head. The unimodal baselines (`image_only`, ...) are concatenation over a single
modality: the model for them is built with that modality's encoder alone.
"""

from __future__ import annotations

from torch import nn

from multimodal_fusion.fusion.concat import ConcatFusion, MLPFusion
from multimodal_fusion.fusion.late import LateFusion
from multimodal_fusion.fusion.tensor import LowRankFusion, TensorFusion
from multimodal_fusion.fusion.transformer import TransformerFusion
from multimodal_fusion.fusion.weighted import AttentionFusion, GatedFusion, WeightedSumFusion

FUSION_STRATEGIES: dict[str, type[nn.Module]] = {
    "concat": ConcatFusion,
    "weighted_sum": WeightedSumFusion,
    "mlp": MLPFusion,
    "attention": AttentionFusion,
    "gated": GatedFusion,
    "transformer": TransformerFusion,
    "tensor": TensorFusion,
    "low_rank": LowRankFusion,
    "late": LateFusion,
}
UNIMODAL_BASELINES = {"image_only": "image", "text_only": "text", "audio_only": "audio"}
STRATEGY_NAMES = (*FUSION_STRATEGIES, *UNIMODAL_BASELINES)


def check_strategy(name: str) -> None:
    """Refuse an unknown strategy name, listing the known ones."""
    if name not in STRATEGY_NAMES:
        raise ValueError(
            f"unknown fusion strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}"
        )


def modalities_for(name: str, available: list[str]) -> list[str]:
    """The modalities a strategy's model uses: all of them, or a baseline's single one."""
    check_strategy(name)
    if name not in UNIMODAL_BASELINES:
        return sorted(available)
    modality = UNIMODAL_BASELINES[name]
    if modality not in available:
        raise ValueError(f"baseline {name!r} needs {modality} features, but no sample has any")
    return [modality]


def build_fusion(name: str, embedding_dims: dict[str, int], hidden_dim: int, num_classes: int,
                 dropout: float = 0.0, options: dict | None = None) -> nn.Module:
    """The strategy registered as `name`, sized for these modalities.

    `options` holds a strategy's own settings (`weights`, `tensor_dim`, `rank`, `heads`,
    `layers`); strategies ignore the ones that are not theirs.
    """
    check_strategy(name)
    strategy = FUSION_STRATEGIES.get(name, ConcatFusion)
    return strategy(embedding_dims, hidden_dim=hidden_dim, num_classes=num_classes,
                    dropout=dropout, **(options or {}))
