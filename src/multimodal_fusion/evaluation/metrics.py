"""Classification metrics of a run's test predictions. No Kedro."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)


def classification_metrics(y_true: list[str], y_pred: list[str], classes: list[str]) -> dict:
    """Accuracy; macro and weighted precision, recall and F1; and the same per class."""
    metrics: dict = {"n_samples": len(y_true), "accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=classes, average=average, zero_division=0
        )
        metrics[average] = {"precision": float(precision), "recall": float(recall),
                            "f1": float(f1)}
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    metrics["per_class"] = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    }
    return metrics


def probability_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str],
                        top_k: int, bins: int) -> dict:
    """What the probabilities say beyond the top class: balanced accuracy, top-k accuracy
    (when there are more than k classes), log-loss, expected calibration error with its
    reliability table, and the confusion matrix normalised by true class. `labels` are
    indices into `classes`."""
    predicted = probabilities.argmax(axis=1)
    everyone = np.arange(len(classes))
    counts = confusion_matrix(labels, predicted, labels=everyone)
    top = {f"top_{top_k}_accuracy": float(top_k_accuracy_score(
        labels, probabilities, k=top_k, labels=everyone))} if top_k < len(classes) else {}
    return {
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        **top,
        "log_loss": float(log_loss(labels, probabilities, labels=everyone)),
        **calibration(labels, probabilities, bins),
        "confusion_normalised": {
            "classes": classes,
            "rows": (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).tolist()},
    }


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int) -> dict:
    """Expected calibration error: how far confidence is from accuracy, bin by bin of
    confidence, weighted by the bins' sizes; and the bins themselves (a reliability table)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, error = [], 0.0
    for b in range(bins):
        members = which == b
        if not members.any():
            continue
        accuracy, mean_confidence = correct[members].mean(), confidence[members].mean()
        error += members.mean() * abs(accuracy - mean_confidence)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]),
                      "count": int(members.sum()), "accuracy": float(accuracy),
                      "confidence": float(mean_confidence)})
    return {"expected_calibration_error": float(error), "reliability": table}


def by_presence(labels: np.ndarray, predicted: np.ndarray,
                present: dict[str, np.ndarray]) -> dict:
    """Accuracy and macro-F1 of the samples that had every modality, and of those that
    lacked each one (whatever else they lacked)."""
    groups = {"all present": np.all(list(present.values()), axis=0)}
    groups |= {f"{m} missing": ~mask for m, mask in sorted(present.items())}
    return {name: {"n_samples": int(members.sum()),
                   "accuracy": float((predicted[members] == labels[members]).mean())
                   if members.any() else None,
                   "macro_f1": float(f1_score(labels[members], predicted[members],
                                              average="macro", zero_division=0))
                   if members.any() else None}
            for name, members in groups.items()}


def run_summary(spec: dict, n_parameters: int, history: list[dict]) -> dict:
    """What was trained and what it cost: strategy (and the record of auto, the search or the
    ensemble), modalities, parameters, epochs, training seconds and the validation macro-F1
    of the kept weights."""
    return {
        "fusion": spec["fusion"],
        **{key: spec[key] for key in ("auto", "search", "ensemble") if key in spec},
        "modalities": sorted(spec["modalities"]),
        "n_parameters": n_parameters,
        "epochs": len(history),
        "train_seconds": sum(epoch["seconds"] for epoch in history),
        "val_macro_f1": max(epoch["val_macro_f1"] for epoch in history),
    }
