"""A trained model scored on the test split: its predictions, then the run's metrics. No Kedro.

`train`'s evaluation, `compare`'s every strategy and `evaluate`'s re-scoring all score a
model this way, so their figures are comparable.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from torch import nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.evaluation.ceiling import demo_ceiling
from multimodal_fusion.evaluation.metrics import (
    by_presence,
    classification_metrics,
    probability_metrics,
    run_summary,
)
from multimodal_fusion.evaluation.robustness import EvaluationSettings
from multimodal_fusion.models.inputs import ModelInputs, StoredSplit
from multimodal_fusion.models.predict import for_inference, predict_proba

logger = logging.getLogger(__name__)


def predict_test_split(model: nn.Module, model_inputs: ModelInputs,
                     manifest: pd.DataFrame) -> pd.DataFrame:
    """Each test sample's predicted class, its probability of every class and the
    modalities it had, beside the manifest's own columns."""
    test = manifest[manifest["split"] == "test"]
    classes = model.spec["classes"]
    split = StoredSplit(model_inputs, "test", model.spec)
    probabilities = predict_proba(for_inference(model), split)
    return test.assign(
        predicted=[classes[i] for i in probabilities.argmax(axis=1)],
        confidence=probabilities.max(axis=1),
        modalities=split.modalities_per_sample(),
        **{f"probability_{name}": probabilities[:, i] for i, name in enumerate(classes)},
    )


def prediction_metrics(predictions: pd.DataFrame, spec: dict, settings: dict) -> dict:
    """Accuracy, precision, recall and F1, what the probabilities say and the figures by
    which modalities a sample had, of predictions whose every label is one of the model's
    classes."""
    chosen = typed_settings(EvaluationSettings, settings, "evaluation")
    classes = spec["classes"]
    labels = predictions["label"].map({name: i for i, name in enumerate(classes)}).to_numpy()
    # float32, as predicted: the same figures whether read back from the CSV or not
    probabilities = predictions[[f"probability_{name}" for name in classes]].to_numpy(
        dtype=np.float32)
    had = predictions["modalities"].str.split("+")
    return classification_metrics(
        predictions["label"].tolist(), predictions["predicted"].tolist(), classes
    ) | probability_metrics(labels, probabilities, classes, chosen.top_k,
                            chosen.calibration_bins) | {
        "by_presence": by_presence(labels, probabilities.argmax(axis=1), {
            m: had.map(lambda used, m=m: m in used).to_numpy(dtype=bool)
            for m in spec["modalities"]}),
    }


def score_test_split(predictions: pd.DataFrame, model: nn.Module, history: list[dict],
                 demo_metadata: dict, settings: dict) -> dict:
    """The run's headline figures and cost, what the probabilities say (calibration,
    log-loss, top-k), the figures by which modalities a sample had; for the demo, the
    ceiling.

    Args:
        predictions: `predict_test_split`'s table, possibly read back from its CSV.
        model: the model scored, for its spec and parameter count.
        history: its training history, for the cost and the validation score.
        demo_metadata: the demo's corruption record ({} for other data).
        settings: the `evaluation` parameters.
    """
    metrics = prediction_metrics(predictions, model.spec, settings) | run_summary(
        model.spec, sum(p.numel() for p in model.parameters()), history)
    ceiling = demo_ceiling(demo_metadata, predictions["sample_id"].tolist())
    if ceiling is not None:
        metrics["demo_ceiling"] = ceiling
        metrics["accuracy_to_ceiling"] = metrics["accuracy"] / ceiling
    logger.info("%s: test accuracy %.4f, macro-F1 %.4f%s", metrics["fusion"],
                metrics["accuracy"], metrics["macro"]["f1"],
                "" if ceiling is None else f" (ceiling {ceiling:.4f})")
    return metrics


def score_labelled_predictions(predictions: pd.DataFrame, model: nn.Module,
                               settings: dict) -> dict:
    """`inference`'s predictions scored against the labels a manifest brings (new data
    held out, or months later), as `train` scores its test split; {"scored": 0, ...} when it
    brings none. Samples with an empty label, or one of a class the model was not trained
    on (it can never predict it), are counted and left out of the figures, with a warning
    naming each class and its first sample."""
    labels = predictions["label"] if "label" in predictions else pd.Series("", predictions.index)
    labelled = labels != ""
    known = labelled & labels.isin(model.spec["classes"])
    unknown = labels[labelled & ~known]
    left_out = {"unlabelled": int((~labelled).sum()),
                "unknown_classes": {str(k): int(v) for k, v in unknown.value_counts().items()}}
    if len(unknown):
        first = predictions.loc[unknown.index, "sample_id"].groupby(unknown).first()
        logger.warning(
            "%d labelled samples are of classes the model was not trained on, so they are "
            "left out of the scores: %s; train a model on data with these classes to score "
            "them", len(unknown), ", ".join(
                f"{label!r} ({count}, first sample {first[label]!r})"
                for label, count in left_out["unknown_classes"].items()))
    if not known.any():
        return {"scored": 0, "left_out": left_out}
    metrics = {"scored": int(known.sum()), "left_out": left_out} | prediction_metrics(
        predictions[known], model.spec, settings)
    logger.info("Scored %d labelled samples: accuracy %.4f, macro-F1 %.4f", metrics["scored"],
                metrics["accuracy"], metrics["macro"]["f1"])
    return metrics
