"""Nodes of the `evaluation` pipeline."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

from multimodal_fusion.evaluation.metrics import (
    classification_metrics,
    confusion_matrix_figure,
    demo_ceiling,
)
from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.training.engine import predict_proba
from multimodal_fusion.training.inputs import ModelInputs, batch_for_split

logger = logging.getLogger(__name__)


def predict_test_split(model: MultimodalClassifier, model_inputs: ModelInputs,
                       manifest: pd.DataFrame) -> pd.DataFrame:
    """The model's prediction for every test sample, beside the manifest's own columns."""
    classes = model.spec["classes"]
    probabilities = predict_proba(model, batch_for_split(model_inputs, "test", model.spec))
    test = manifest[manifest["split"] == "test"]
    return test.assign(
        predicted=[classes[i] for i in probabilities.argmax(axis=1)],
        confidence=probabilities.max(axis=1),
    )


def compute_test_metrics(predictions: pd.DataFrame, model: MultimodalClassifier,
                         history: list[dict], demo_metadata: dict) -> dict:
    """The run's headline figures and cost; for the demo, the ceiling beside the accuracy."""
    metrics = classification_metrics(
        predictions["label"].tolist(), predictions["predicted"].tolist(), model.spec["classes"]
    )
    metrics["fusion"] = model.spec["fusion"]
    metrics["modalities"] = sorted(model.spec["modalities"])
    metrics["n_parameters"] = sum(p.numel() for p in model.parameters())
    metrics["epochs"] = len(history)
    metrics["train_seconds"] = sum(epoch["seconds"] for epoch in history)
    ceiling = demo_ceiling(demo_metadata, predictions["sample_id"].tolist())
    if ceiling is not None:
        metrics["demo_ceiling"] = ceiling
        metrics["accuracy_to_ceiling"] = metrics["accuracy"] / ceiling
    logger.info("%s: test accuracy %.4f, macro-F1 %.4f%s", metrics["fusion"],
                metrics["accuracy"], metrics["macro"]["f1"],
                "" if ceiling is None else f" (ceiling {ceiling:.4f})")
    return metrics


def plot_confusion_matrix(predictions: pd.DataFrame, model: MultimodalClassifier) -> Figure:
    """Where the test errors fall, class by class."""
    return confusion_matrix_figure(
        predictions["label"].tolist(), predictions["predicted"].tolist(), model.spec["classes"],
        title=f"Test split, {model.spec['fusion']} fusion",
    )
