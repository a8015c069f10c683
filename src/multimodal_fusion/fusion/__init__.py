"""Fusion strategies, one `nn.Module` each, found by name. No Kedro.

Every strategy takes per-modality embeddings (a dict keyed by modality) and a presence mask
(a dict of boolean vectors) and returns one fused vector per sample; its `output_dim` tells
the head how wide that vector is. A strategy with `produces_logits` returns class logits and
needs no head. Each declares its own typed `Settings`; a key it does not take is an error.

The unimodal baselines follow from the modality registry: `<modality>_only` is concatenation
over that single modality, and the model for it is built with that modality's encoder alone.
The linear reference baselines (`linear_early`, `linear_late`) are logistic regressions, not
fusion modules: they are named here so every comparison carries them, and built in
`models.linear`.
"""

from __future__ import annotations

from dataclasses import asdict

from torch import nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.fusion.concat import ConcatFusion, MLPFusion
from multimodal_fusion.fusion.late import LateFusion
from multimodal_fusion.fusion.tensor import LowRankFusion, TensorFusion
from multimodal_fusion.fusion.transformer import TransformerFusion
from multimodal_fusion.fusion.weighted import AttentionFusion, GatedFusion, WeightedSumFusion
from multimodal_fusion.modalities import MODALITY_NAMES

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
UNIMODAL_BASELINES = {f"{modality}_only": modality for modality in MODALITY_NAMES}
REFERENCE_BASELINES = ("linear_early", "linear_late")
AUTO = "auto"  # chosen on validation among candidates (training.auto)
STRATEGY_NAMES = (*FUSION_STRATEGIES, AUTO, *REFERENCE_BASELINES, *UNIMODAL_BASELINES)
OPTIONS_WHERE = "training.model.fusion_options"


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
        raise ValueError(f"baseline {name!r} needs {modality} features, but no training "
                         "sample has any")
    return [modality]


def applies_to(name: str, available: list[str]) -> bool:
    """Whether the strategy can be trained on these modalities (a baseline needs its own)."""
    check_strategy(name)
    if name in UNIMODAL_BASELINES:
        return UNIMODAL_BASELINES[name] in available
    return bool(available)


def selected(name: str, choice: str | list[str]) -> bool:
    """Whether `compare.strategies` (all, or a list of names) includes the strategy; a name
    it lists that no strategy has is an error, naming the known ones. The linear references
    are always included: they cost seconds, and every strategy is read against them."""
    listed = [choice] if isinstance(choice, str) else list(choice)
    if listed == ["all"]:
        return True
    for strategy in listed:
        check_strategy(strategy)
    return name in REFERENCE_BASELINES or name in listed


def strategy_options(name: str, options_by_strategy: dict[str, dict] | None) -> dict:
    """The options of strategy `name`, complete, from the per-strategy parameter groups.

    Every group is checked, not only the chosen strategy's, so a misspelt key stops `compare`
    and `train` alike, naming it and the keys that strategy takes.
    """
    check_strategy(name)
    options_by_strategy = options_by_strategy or {}
    unknown = sorted(set(options_by_strategy) - set(FUSION_STRATEGIES))
    if unknown:
        raise ValueError(
            f"{OPTIONS_WHERE}: unknown key {', '.join(repr(k) for k in unknown)}; its keys are "
            f"strategy names ({', '.join(FUSION_STRATEGIES)}), each holding that strategy's "
            f"options, e.g. {OPTIONS_WHERE}.low_rank.rank")
    settings = {strategy: typed_settings(FUSION_STRATEGIES[strategy].Settings, options,
                                         f"{OPTIONS_WHERE}.{strategy}")
                for strategy, options in options_by_strategy.items()}
    chosen = settings.get(name, FUSION_STRATEGIES.get(name, ConcatFusion).Settings())
    return asdict(chosen)


def build_fusion(name: str, embedding_dims: dict[str, int], hidden_dim: int, num_classes: int,
                 dropout: float = 0.0, options: dict | None = None) -> nn.Module:
    """The strategy registered as `name`, sized for these modalities, with its own options."""
    check_strategy(name)
    if name in REFERENCE_BASELINES:
        raise ValueError(f"{name} is a logistic regression, not a fusion module; build it "
                         "with multimodal_fusion.models.classifier.build_model")
    if name == AUTO:
        raise ValueError("auto is a choice among strategies made in training, not a module")
    strategy = FUSION_STRATEGIES.get(name, ConcatFusion)
    settings = typed_settings(strategy.Settings, options, f"{OPTIONS_WHERE}.{name}")
    return strategy(embedding_dims, hidden_dim=hidden_dim, num_classes=num_classes,
                    dropout=dropout, settings=settings)
