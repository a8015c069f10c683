"""Classification metrics and the confusion-matrix figure for a run's report."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


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


def run_summary(spec: dict, n_parameters: int, history: list[dict]) -> dict:
    """What was trained and what it cost: strategy (and auto's record), modalities,
    parameters, epochs, training seconds and the validation macro-F1 of the kept weights."""
    return {
        "fusion": spec["fusion"],
        **({"auto": spec["auto"]} if "auto" in spec else {}),
        "modalities": sorted(spec["modalities"]),
        "n_parameters": n_parameters,
        "epochs": len(history),
        "train_seconds": sum(epoch["seconds"] for epoch in history),
        "val_macro_f1": max(epoch["val_macro_f1"] for epoch in history),
    }


def confusion_matrix_figure(y_true: list[str], y_pred: list[str], classes: list[str],
                            title: str) -> Figure:
    """Counts of true against predicted class, row-normalised colours, counts written in.

    Built without pyplot, so no GUI backend or global figure state is involved.
    """
    counts = confusion_matrix(y_true, y_pred, labels=classes)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(classes) + 2)
    figure = Figure(figsize=(size, size), layout="constrained")
    axes = figure.add_subplot()
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(classes)), classes, rotation=45 if len(classes) > 10 else 0)
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for (i, j), count in np.ndenumerate(counts):
        if count:
            axes.text(j, i, str(count), ha="center", va="center",
                      color="white" if shares[i, j] > 0.5 else "black", fontsize=8)
    return figure


def skipped_figure(strategy: str, reason: str) -> Figure:
    """A small figure in place of a plot for a strategy that was not trained, saying why."""
    figure = Figure(figsize=(4, 1.2), layout="constrained")
    figure.text(0.5, 0.5, f"{strategy}: skipped, {reason}", ha="center", va="center")
    return figure
