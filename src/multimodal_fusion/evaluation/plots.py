"""The run's plots as Plotly figures: kedro-viz previews them, the HTML report embeds them.

Each takes plain JSON (a history, metrics, a modality analysis), so a stored run can be
plotted again without its model.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEMPLATE = "plotly_white"
# The leaderboard's colour for each kind of strategy.
KIND_COLOURS = {"fusion": "#1f77b4", "auto": "#2ca02c", "ensemble": "#9467bd",
                "linear reference": "#ff7f0e", "unimodal": "#9e9e9e"}


def training_curves(history: list[dict]) -> go.Figure:
    """Training loss and validation macro-F1 per epoch."""
    epochs = [h["epoch"] for h in history]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_scatter(x=epochs, y=[h["train_loss"] for h in history], name="training loss")
    figure.add_scatter(x=epochs, y=[h["val_macro_f1"] for h in history],
                       name="validation macro-F1", secondary_y=True)
    figure.update_xaxes(title="epoch")
    figure.update_yaxes(title="loss", secondary_y=False)
    figure.update_yaxes(title="macro-F1", range=[0, 1], secondary_y=True)
    return figure.update_layout(title="Training", template=TEMPLATE)


def confusion_heatmap(confusion: dict) -> go.Figure:
    """Each true class's share predicted as each class."""
    classes = confusion["classes"]
    figure = go.Figure(go.Heatmap(z=confusion["rows"], x=classes, y=classes, zmin=0, zmax=1,
                                  colorscale="Blues", texttemplate="%{z:.2f}"))
    figure.update_xaxes(title="predicted", type="category")
    figure.update_yaxes(title="true", type="category", autorange="reversed")
    return figure.update_layout(title="Confusion matrix, normalised by true class",
                                template=TEMPLATE)


def reliability_diagram(metrics: dict) -> go.Figure:
    """Accuracy against confidence per bin: on the diagonal, the probabilities are honest."""
    bins = metrics["reliability"]
    figure = go.Figure()
    figure.add_bar(x=[(b["low"] + b["high"]) / 2 for b in bins], y=[b["accuracy"] for b in bins],
                   width=[b["high"] - b["low"] for b in bins], name="accuracy",
                   customdata=[b["count"] for b in bins],
                   hovertemplate="confidence %{x:.2f}: accuracy %{y:.2f}, %{customdata} samples")
    figure.add_scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins],
                       mode="markers", name="mean confidence")
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                       line={"dash": "dash", "color": "grey"})
    figure.update_xaxes(title="confidence", range=[0, 1])
    figure.update_yaxes(title="accuracy", range=[0, 1])
    return figure.update_layout(
        title=f"Reliability (expected calibration error "
              f"{metrics['expected_calibration_error']:.3f})", template=TEMPLATE)


def contributions_chart(analysis: dict) -> go.Figure:
    """Per modality, its Shapley value and the accuracy lost when it alone is hidden."""
    modalities = sorted(analysis["shapley"])
    figure = go.Figure()
    figure.add_bar(x=modalities, y=[analysis["shapley"][m] for m in modalities],
                   name="Shapley value")
    figure.add_bar(x=modalities, y=[analysis["ablation"][m]["drop"] for m in modalities],
                   name="drop when hidden")
    figure.update_yaxes(title="test accuracy")
    return figure.update_layout(
        title=f"What each modality contributes (all: {analysis['accuracy_all']:.3f}, "
              f"none: {analysis['accuracy_none']:.3f})", barmode="group", template=TEMPLATE)


def robustness_chart(analysis: dict) -> go.Figure:
    """Accuracy as modalities go missing at random, and as noise grows on each one."""
    figure = make_subplots(cols=2, subplot_titles=("modalities missing at random",
                                                   "noise on one modality"))
    curve = analysis["missing_curve"]
    figure.add_scatter(x=[p["share"] for p in curve], y=[p["accuracy"] for p in curve],
                       name="missing", row=1, col=1)
    figure.add_hline(y=analysis["chance"], line={"dash": "dot", "color": "grey"},
                     annotation_text="chance", row=1, col=1)
    for modality, points in analysis["noise_curves"].items():
        figure.add_scatter(x=[p["level"] for p in points], y=[p["accuracy"] for p in points],
                           name=f"noise on {modality}", row=1, col=2)
    figure.update_xaxes(title="share of modalities hidden", row=1, col=1)
    figure.update_xaxes(title="noise, in feature spreads", row=1, col=2)
    figure.update_yaxes(title="test accuracy", range=[0, 1])
    return figure.update_layout(title="Robustness", template=TEMPLATE)


def leaderboard_chart(rows: list[dict]) -> go.Figure:
    """Test macro-F1 per strategy, best on top, coloured by kind: fusion strategies in blue,
    auto's choice in green, ensembles in purple, linear references in orange, unimodal
    baselines in grey."""
    ranked = [row for row in rows if row["rank"] is not None][::-1]
    figure = go.Figure()
    for kind in dict.fromkeys(row["kind"] for row in ranked):
        members = [row for row in ranked if row["kind"] == kind]
        figure.add_bar(y=[row["strategy"] for row in members],
                       x=[row["macro_f1"] for row in members], name=kind, orientation="h",
                       marker_color=KIND_COLOURS[kind],
                       text=[f"{row['macro_f1']:.3f}" for row in members],
                       textposition="outside")
    figure.update_yaxes(categoryorder="array", categoryarray=[row["strategy"] for row in ranked])
    figure.update_xaxes(title="test macro-F1", range=[0, 1])
    return figure.update_layout(title="Leaderboard", template=TEMPLATE,
                                height=120 + 28 * len(ranked))


def search_chart(search: dict) -> go.Figure:
    """The hyperparameter search: each trial's validation macro-F1 in order (pruned ones at
    their last report) with the best so far, and each parameter's importance."""
    if not search["trials"]:
        return go.Figure().update_layout(title=f"Hyperparameter search: {search['reason']}",
                                         template=TEMPLATE)
    figure = make_subplots(rows=1, cols=2, column_widths=[0.65, 0.35], subplot_titles=(
        "validation macro-F1 by trial", "parameter importance"))
    trials = search["trials"]
    for state, symbol in (("complete", "circle"), ("pruned", "x")):
        members = [t for t in trials if t["state"] == state]
        figure.add_scatter(x=[t["number"] for t in members], y=[t["value"] for t in members],
                           mode="markers", marker_symbol=symbol, name=state,
                           text=[f"{t['params']['strategy']}, {t['epochs']} epochs"
                                 for t in members], row=1, col=1)
    best, so_far = [], -1.0
    for trial in trials:
        if trial["state"] == "complete":
            so_far = max(so_far, trial["value"])
        best.append(so_far if so_far >= 0 else None)
    figure.add_scatter(x=[t["number"] for t in trials], y=best, mode="lines", name="best so far",
                       line_shape="hv", row=1, col=1)
    shares = sorted(search["importance"].items(), key=lambda item: item[1])
    figure.add_bar(y=[name for name, _ in shares], x=[share for _, share in shares],
                   orientation="h", name="importance", showlegend=False, row=1, col=2)
    figure.update_xaxes(title="trial", row=1, col=1)
    figure.update_yaxes(title="validation macro-F1", row=1, col=1)
    figure.update_xaxes(title="share", row=1, col=2)
    return figure.update_layout(
        title=f"Hyperparameter search: best trial {search['best']['number']} of "
              f"{len(trials)} ({search['pruned']} pruned)", template=TEMPLATE)
