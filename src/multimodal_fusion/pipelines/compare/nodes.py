"""Nodes of the `compare` pipeline."""

from __future__ import annotations

from matplotlib.figure import Figure

from multimodal_fusion.evaluation.leaderboard import leaderboard_figure, leaderboard_rows
from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.training.engine import train_on_inputs
from multimodal_fusion.training.inputs import ModelInputs


def train_with_fusion(model_inputs: ModelInputs, settings: dict, seed: int, *,
                      fusion: str) -> tuple[MultimodalClassifier, list[dict]]:
    """Train with the shared training settings, but this namespace's fusion strategy."""
    settings = {**settings, "model": {**settings["model"], "fusion": fusion}}
    return train_on_inputs(model_inputs, settings, seed)


def build_leaderboard(**metrics_by_strategy: dict) -> tuple[list[dict], Figure]:
    """Every strategy ranked by test macro-F1, as JSON rows and as a bar chart."""
    rows = leaderboard_rows(metrics_by_strategy)
    return rows, leaderboard_figure(rows)
