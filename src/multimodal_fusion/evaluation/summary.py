"""What a run tells a person at its end: its result against the references and where its
outputs went. No Kedro.

Each pipeline's last node gives a summary: its lines, and the datasets whose saved
versions the end of the run names (`saved`); the project's hook logs both once the run is
done, so they are the last lines of the log.
"""

from __future__ import annotations

import pandas as pd

Summary = dict[str, list[str]]


def summary(lines: list[str], saved: list[str]) -> Summary:
    return {"lines": lines, "saved": saved}


def best_single_modality(analysis: dict) -> tuple[str, float] | None:
    """The modality the model does best with alone, and that accuracy (None with one)."""
    alone = analysis["alone"]
    return max(alone.items(), key=lambda item: item[1]) if len(alone) > 1 else None


def train_summary(metrics: dict, analysis: dict, reference: dict) -> Summary:
    """The strategy and its test accuracy against the model's best single modality and the
    linear reference, then the model, report and metrics saved."""
    ceiling = metrics.get("demo_ceiling")
    chosen = " (auto's choice)" if "auto" in metrics else ""
    lines = [f"{metrics['fusion']} fusion{chosen} of {', '.join(metrics['modalities'])}: test "
             f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro']['f1']:.4f}"
             + ("" if ceiling is None else f" (the demo's ceiling {ceiling:.4f})")]
    against = []
    single = best_single_modality(analysis)
    if single:
        against.append(f"{single[0]} alone {single[1]:.4f} (the model's best single modality)")
    if "skipped" in reference:
        against.append(f"no linear reference ({reference['skipped']})")
    else:
        against.append(f"{reference['fusion']} {reference['accuracy']:.4f} (linear reference)")
    lines.append(f"against {'; '.join(against)}")
    if "skipped" not in reference and reference["accuracy"] > metrics["accuracy"]:
        lines.append(f"the linear reference {reference['fusion']} beats this model on test: "
                     "on this data the neural fusion does not earn its cost")
    if "search" in metrics:
        search = metrics["search"]
        lines.append(f"chosen by a search of {search['trials']} trials ({search['pruned']} "
                     f"pruned, {search['seconds']:.0f} s): kept {search['keep']}, best trial "
                     f"{search['best']['number']} ({search['best']['params']['strategy']}) "
                     f"at validation macro-F1 {search['best']['value']:.4f}")
    if "folds" in metrics.get("ensemble", {}):
        bag = metrics["ensemble"]
        lines.append(f"cross-fitted over {bag['folds']} folds: the bag of "
                     f"{', '.join(bag['members'])} by out-of-fold macro-F1 "
                     f"{bag['val_macro_f1']:.4f}; its validation figures are not held out "
                     "(its fold models saw those samples)")
    return summary(lines, ["fusion_model", "run_report", "metrics"])


def compare_summary(rows: list[dict]) -> Summary:
    """The best strategies by test macro-F1, then the leaderboard and report saved."""
    ranked = [row for row in rows if row["rank"] is not None]
    lines = [f"{len(ranked)} strategies compared by test macro-F1; best:"] + [
        f"  {row['rank']}. {row['strategy']} ({row['kind']}): macro-F1 {row['macro_f1']:.4f},"
        f" accuracy {row['accuracy']:.4f}" for row in ranked[:3]]
    if ranked and ranked[0]["kind"] == "linear reference":
        lines.append(f"a linear reference ({ranked[0]['strategy']}) ranks first: on this data "
                     "no neural fusion earns its cost")
    return summary(lines, ["leaderboard", "compare_report"])


def evaluate_summary(reproduction: dict, metrics: dict) -> Summary:
    """Whether the stored model's figures were reproduced, then what was saved."""
    verdict = ("reproduces its stored metrics exactly" if reproduction["reproduced"] else
               f"differs from its stored metrics in {len(reproduction['differences'])} "
               "figures (see reproduction.json)")
    return summary([f"{metrics['fusion']} model re-evaluated: test accuracy "
                    f"{metrics['accuracy']:.4f}; it {verdict}"],
                   ["reevaluated_metrics", "reproduction"])


def inference_summary(predictions: pd.DataFrame, metrics: dict) -> Summary:
    """How many samples were predicted, and as what; their scores where the manifest
    brought labels; then where the predictions (and scores) went."""
    counts = predictions["predicted"].value_counts()
    shown = ", ".join(f"{label} {count}" for label, count in counts.head(5).items())
    more = f" and {len(counts) - 5} more classes" if len(counts) > 5 else ""
    lines = [f"{len(predictions)} samples predicted: {shown}{more}"]
    if not metrics["scored"]:
        return summary(lines, ["predictions"])
    unknown = sum(metrics["left_out"]["unknown_classes"].values())
    lines.append(f"against the {metrics['scored']} labels of classes the model knows: "
                 f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro']['f1']:.4f}"
                 + (f" ({unknown} of unknown classes left out)" if unknown else ""))
    return summary(lines, ["predictions", "inference_metrics"])
