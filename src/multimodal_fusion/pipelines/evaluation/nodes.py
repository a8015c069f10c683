"""Nodes of the `evaluation` pipeline."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

from multimodal_fusion.evaluation.ceiling import demo_ceiling
from multimodal_fusion.evaluation.metrics import (
    classification_metrics,
    confusion_matrix_figure,
    run_summary,
    skipped_figure,
)
from multimodal_fusion.models.classifier import MultimodalClassifier, SkippedStrategy
from multimodal_fusion.models.inputs import ModelInputs, batch_for_split
from multimodal_fusion.models.predict import predict_proba

logger = logging.getLogger(__name__)


def predict_test_split(model: MultimodalClassifier | SkippedStrategy, model_inputs: ModelInputs,
                       manifest: pd.DataFrame) -> pd.DataFrame:
    """The model's prediction for every test sample, beside the manifest's own columns."""
    test = manifest[manifest["split"] == "test"]
    if isinstance(model, SkippedStrategy):
        return test.assign(predicted="", confidence=0.0)
    classes = model.spec["classes"]
    probabilities = predict_proba(model, batch_for_split(model_inputs, "test", model.spec))
    return test.assign(
        predicted=[classes[i] for i in probabilities.argmax(axis=1)],
        confidence=probabilities.max(axis=1),
    )


def compute_test_metrics(predictions: pd.DataFrame, model: MultimodalClassifier | SkippedStrategy,
                         history: list[dict], demo_metadata: dict) -> dict:
    """The run's headline figures and cost; for the demo, the ceiling beside the accuracy."""
    if isinstance(model, SkippedStrategy):
        logger.info("%s: skipped, %s", model.fusion, model.reason)
        return model.spec
    metrics = classification_metrics(
        predictions["label"].tolist(), predictions["predicted"].tolist(), model.spec["classes"]
    ) | run_summary(model.spec, sum(p.numel() for p in model.parameters()), history)
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
