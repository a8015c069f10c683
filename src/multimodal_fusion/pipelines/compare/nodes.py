"""Nodes of the `compare` pipeline."""

from __future__ import annotations

from matplotlib.figure import Figure

from multimodal_fusion.evaluation.leaderboard import leaderboard_figure, leaderboard_rows
from multimodal_fusion.fusion import UNIMODAL_BASELINES, applies_to, selected
from multimodal_fusion.models.classifier import MultimodalClassifier, SkippedStrategy
from multimodal_fusion.models.inputs import ModelInputs, modalities_of
from multimodal_fusion.training.memo import TrainingMemo


def train_with_fusion(model_inputs: ModelInputs, settings: dict, compare: dict, seed: int, *,
                      fusion: str, memo: TrainingMemo
                      ) -> tuple[MultimodalClassifier | SkippedStrategy, list[dict]]:
    """Train with the shared training settings, but this namespace's fusion strategy; a
    strategy not selected, or a baseline whose modality this data lacks, is skipped. The
    namespaces share `memo`, so `auto` reuses its candidates' trainings."""
    if not selected(fusion, compare["strategies"]):
        return SkippedStrategy(fusion, "not in compare.strategies"), []
    if not applies_to(fusion, modalities_of(model_inputs)):
        missing = UNIMODAL_BASELINES.get(fusion, "any modality")
        return SkippedStrategy(fusion, f"no training sample has {missing}"), []
    settings = {**settings, "model": {**settings["model"], "fusion": fusion}}
    return memo.train(model_inputs, settings, seed)


def build_leaderboard(**metrics_by_strategy: dict) -> tuple[list[dict], Figure]:
    """Every strategy ranked by test macro-F1, as JSON rows and as a bar chart."""
    rows = leaderboard_rows(metrics_by_strategy)
    return rows, leaderboard_figure(rows)
