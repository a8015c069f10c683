"""Rank the strategies `compare` trained on one split, by test macro-F1. No Kedro."""

from __future__ import annotations


def leaderboard_rows(metrics_by_strategy: dict[str, dict]) -> list[dict]:
    """One row per strategy, best test macro-F1 first, with its kind, accuracy and cost.

    Each record says its kind (fusion, auto, ensemble, linear reference, unimodal); records of
    strategies that were skipped (not selected, or a baseline whose modality the data
    lacks) come last, unranked, with the reason.
    """
    rows = [
        {
            "strategy": strategy,
            "kind": metrics["kind"],
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
    skipped = [{"strategy": strategy, "kind": metrics["kind"], "rank": None,
                "skipped": metrics["skipped"]}
               for strategy, metrics in sorted(metrics_by_strategy.items())
               if "skipped" in metrics]
    return rows + skipped
