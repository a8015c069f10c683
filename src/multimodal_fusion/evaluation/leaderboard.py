"""Rank runs of several fusion strategies on the same split, as a table and a bar chart."""

from __future__ import annotations

from matplotlib.figure import Figure

from multimodal_fusion.fusion import AUTO, REFERENCE_BASELINES, UNIMODAL_BASELINES

COLOURS = {"fusion": "#1f77b4", "auto": "#2ca02c", "linear reference": "#ff7f0e",
           "unimodal": "#9e9e9e"}


def kind(strategy: str) -> str:
    """What a row is: a fusion strategy, auto's choice, a linear reference baseline, or one
    modality alone."""
    if strategy == AUTO:
        return "auto"
    if strategy in REFERENCE_BASELINES:
        return "linear reference"
    return "unimodal" if strategy in UNIMODAL_BASELINES else "fusion"


def leaderboard_rows(metrics_by_strategy: dict[str, dict]) -> list[dict]:
    """One row per strategy, best test macro-F1 first, with its accuracy and its cost.

    Strategies that were skipped (a baseline whose modality the data lacks) come last,
    unranked, with the reason.
    """
    rows = [
        {
            "strategy": strategy,
            "kind": kind(strategy),
            "macro_f1": metrics["macro"]["f1"],
            "accuracy": metrics["accuracy"],
            "accuracy_to_ceiling": metrics.get("accuracy_to_ceiling"),
            "val_macro_f1": metrics["val_macro_f1"],
            "n_parameters": metrics["n_parameters"],
            "train_seconds": metrics["train_seconds"],
            "epochs": metrics["epochs"],
        }
        for strategy, metrics in metrics_by_strategy.items() if "skipped" not in metrics
    ]
    rows.sort(key=lambda row: (-row["macro_f1"], row["strategy"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    skipped = [{"strategy": strategy, "kind": kind(strategy), "rank": None,
                "skipped": metrics["skipped"]}
               for strategy, metrics in sorted(metrics_by_strategy.items())
               if "skipped" in metrics]
    return rows + skipped


def leaderboard_figure(rows: list[dict]) -> Figure:
    """Horizontal bars of test macro-F1, best on top; fusion strategies in blue, auto's
    choice in green, linear references in orange, unimodal baselines in grey."""
    rows = [row for row in rows if row["rank"] is not None]
    figure = Figure(figsize=(7, 0.4 * len(rows) + 1.2), layout="constrained")
    axes = figure.add_subplot()
    names = [row["strategy"] for row in rows][::-1]
    scores = [row["macro_f1"] for row in rows][::-1]
    colours = [COLOURS[kind(name)] for name in names]
    axes.barh(names, scores, color=colours)
    for y, score in enumerate(scores):
        axes.text(score, y, f" {score:.3f}", va="center", fontsize=8)
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("test macro-F1")
    axes.set_title("Fusion strategies, linear references and unimodal baselines")
    return figure
