"""Nodes of the `evaluation` pipeline."""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go
from torch import nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.evaluation.plots import (
    confusion_heatmap,
    contributions_chart,
    reliability_diagram,
    robustness_chart,
    search_chart,
    training_curves,
)
from multimodal_fusion.evaluation.report import render_report
from multimodal_fusion.evaluation.robustness import EvaluationSettings, modality_analysis
from multimodal_fusion.models.inputs import ModelInputs, StoredSplit
from multimodal_fusion.runs.record import run_record

logger = logging.getLogger(__name__)


def analyse_modalities(model: nn.Module, model_inputs: ModelInputs, settings: dict,
                       seed: int) -> dict:
    """Which modality the model leans on (ablation, Shapley values) and how it holds up
    when modalities go missing or noisy, on the test split."""
    chosen = typed_settings(EvaluationSettings, settings, "evaluation")
    analysis = modality_analysis(model, StoredSplit(model_inputs, "test", model.spec),
                                 chosen, seed)
    logger.info("Shapley values of test accuracy: %s", ", ".join(
        f"{m} {value:+.3f}" for m, value in analysis["shapley"].items()))
    return analysis


def plot_run(history: list[dict], metrics: dict,
             analysis: dict) -> tuple[go.Figure, go.Figure, go.Figure, go.Figure, go.Figure]:
    """Training curves, the normalised confusion matrix, the reliability diagram, the
    modality contributions and the robustness curves."""
    return (training_curves(history), confusion_heatmap(metrics["confusion_normalised"]),
            reliability_diagram(metrics), contributions_chart(analysis),
            robustness_chart(analysis))


def plot_search(search: dict) -> go.Figure:
    """The search's trials and what mattered, or a title saying why none ran."""
    return search_chart(search)


def record_run(run: dict, parameters: dict, manifest: pd.DataFrame, seed: int,
               metrics: dict) -> dict:
    """What produced this model and its figures: commit, parameters, data, libraries,
    device, seed, wall time so far; kept beside the model, with the same version."""
    return run_record(run, parameters, manifest, seed) | {
        "test_accuracy": metrics.get("accuracy")}


def write_report(metrics: dict, analysis: dict, model_inputs: ModelInputs, parameters: dict,
                 quarantine: pd.DataFrame, record: dict, search: dict, search_figure: go.Figure,
                 *figures: go.Figure) -> str:
    """The run on one self-contained HTML page: metrics, plots (the search's when one ran),
    data, record, parameters."""
    shown = [*figures, search_figure] if search["trials"] else list(figures)
    return render_report(
        title=f"{metrics['fusion']} fusion over {', '.join(metrics['modalities'])}",
        subtitle=f"run {record['run_id']}: test accuracy {metrics['accuracy']:.4f} on "
                 f"{metrics['n_samples']} samples",
        parameters=parameters, model_inputs=model_inputs, figures=shown,
        metrics=metrics, analysis=analysis, quarantined=len(quarantine), record=record)
