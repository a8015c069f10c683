"""Nodes of the `evaluation` pipeline."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.evaluation.ceiling import demo_ceiling
from multimodal_fusion.evaluation.metrics import (
    by_presence,
    classification_metrics,
    confusion_matrix_figure,
    probability_metrics,
    run_summary,
    skipped_figure,
)
from multimodal_fusion.evaluation.plots import (
    confusion_heatmap,
    contributions_chart,
    reliability_diagram,
    robustness_chart,
    training_curves,
)
from multimodal_fusion.evaluation.report import render_report
from multimodal_fusion.evaluation.robustness import EvaluationSettings, modality_analysis
from multimodal_fusion.models.classifier import MultimodalClassifier, SkippedStrategy
from multimodal_fusion.models.inputs import ModelInputs, batch_for_split
from multimodal_fusion.models.predict import predict_proba
from multimodal_fusion.runs.record import run_record

logger = logging.getLogger(__name__)


def predict_test_split(model: MultimodalClassifier | SkippedStrategy, model_inputs: ModelInputs,
                       manifest: pd.DataFrame) -> pd.DataFrame:
    """Each test sample's predicted class, its probability of every class and the
    modalities it had, beside the manifest's own columns."""
    test = manifest[manifest["split"] == "test"]
    if isinstance(model, SkippedStrategy):
        return test.assign(predicted="", confidence=0.0)
    classes = model.spec["classes"]
    batch = batch_for_split(model_inputs, "test", model.spec)
    probabilities = predict_proba(model, batch)
    return test.assign(
        predicted=[classes[i] for i in probabilities.argmax(axis=1)],
        confidence=probabilities.max(axis=1),
        modalities=batch.modalities_per_sample(),
        **{f"probability_{name}": probabilities[:, i] for i, name in enumerate(classes)},
    )


def compute_test_metrics(predictions: pd.DataFrame, model: MultimodalClassifier | SkippedStrategy,
                         history: list[dict], demo_metadata: dict, settings: dict) -> dict:
    """The run's headline figures and cost, what the probabilities say (calibration, log-loss,
    top-k), the figures by which modalities a sample had; for the demo, the ceiling."""
    if isinstance(model, SkippedStrategy):
        logger.info("%s: skipped, %s", model.fusion, model.reason)
        return model.spec
    chosen = typed_settings(EvaluationSettings, settings, "evaluation")
    classes = model.spec["classes"]
    labels = predictions["label"].map({name: i for i, name in enumerate(classes)}).to_numpy()
    # float32, as predicted: the same figures whether read back from the CSV or not
    probabilities = predictions[[f"probability_{name}" for name in classes]].to_numpy(
        dtype=np.float32)
    had = predictions["modalities"].str.split("+")
    metrics = classification_metrics(
        predictions["label"].tolist(), predictions["predicted"].tolist(), classes
    ) | probability_metrics(labels, probabilities, classes, chosen.top_k,
                            chosen.calibration_bins) | {
        "by_presence": by_presence(labels, probabilities.argmax(axis=1), {
            m: had.map(lambda used, m=m: m in used).to_numpy(dtype=bool)
            for m in model.spec["modalities"]}),
    } | run_summary(model.spec, sum(p.numel() for p in model.parameters()), history)
    ceiling = demo_ceiling(demo_metadata, predictions["sample_id"].tolist())
    if ceiling is not None:
        metrics["demo_ceiling"] = ceiling
        metrics["accuracy_to_ceiling"] = metrics["accuracy"] / ceiling
    logger.info("%s: test accuracy %.4f, macro-F1 %.4f%s", metrics["fusion"],
                metrics["accuracy"], metrics["macro"]["f1"],
                "" if ceiling is None else f" (ceiling {ceiling:.4f})")
    return metrics


def plot_confusion_matrix(predictions: pd.DataFrame,
                          model: MultimodalClassifier | SkippedStrategy) -> Figure:
    """Where the test errors fall, class by class."""
    if isinstance(model, SkippedStrategy):
        return skipped_figure(model.fusion, model.reason)
    return confusion_matrix_figure(
        predictions["label"].tolist(), predictions["predicted"].tolist(), model.spec["classes"],
        title=f"Test split, {model.spec['fusion']} fusion",
    )


def analyse_modalities(model: MultimodalClassifier, model_inputs: ModelInputs, settings: dict,
                       seed: int) -> dict:
    """Which modality the model leans on (ablation, Shapley values) and how it holds up
    when modalities go missing or noisy, on the test split."""
    chosen = typed_settings(EvaluationSettings, settings, "evaluation")
    analysis = modality_analysis(model, batch_for_split(model_inputs, "test", model.spec),
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


def record_run(run: dict, parameters: dict, manifest: pd.DataFrame, seed: int,
               metrics: dict) -> dict:
    """What produced this model and its figures: commit, parameters, data, libraries,
    device, seed, wall time so far; kept beside the model, with the same version."""
    return run_record(run, parameters, manifest, seed) | {
        "test_accuracy": metrics.get("accuracy")}


def write_report(metrics: dict, analysis: dict, model_inputs: ModelInputs, parameters: dict,
                 quarantine: pd.DataFrame, record: dict, *figures: go.Figure) -> str:
    """The run on one self-contained HTML page: metrics, plots, data, record, parameters."""
    return render_report(
        title=f"{metrics['fusion']} fusion over {', '.join(metrics['modalities'])}",
        subtitle=f"run {record['run_id']}: test accuracy {metrics['accuracy']:.4f} on "
                 f"{metrics['n_samples']} samples",
        parameters=parameters, model_inputs=model_inputs, figures=list(figures),
        metrics=metrics, analysis=analysis, quarantined=len(quarantine), record=record)
