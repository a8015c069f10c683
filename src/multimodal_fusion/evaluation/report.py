"""One self-contained HTML page per run: metrics, plots, data, parameters. No Kedro.

Rendered with Jinja2 from `templates/report.html`; the plots are Plotly figures with
plotly.js written into the page once, so it opens offline, in any browser, as one file.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from multimodal_fusion.models.inputs import ModelInputs, modalities_of

SPLITS = ("train", "val", "test")
LEADERBOARD_COLUMNS = ("rank", "strategy", "kind", "accuracy", "macro_f1", "train_seconds",
                       "skipped")


def figure_html(figures: list[go.Figure]) -> list[Markup]:
    """Each figure as a <div>; the first carries plotly.js, the others use it."""
    return [Markup(figure.to_html(full_html=False, include_plotlyjs=(i == 0),
                                  default_width="100%", default_height="460px"))
            for i, figure in enumerate(figures)]


def headline(metrics: dict) -> list[tuple[str, str]]:
    """The figures a reader looks for first, formatted."""
    rows = [("strategy", metrics["fusion"]), ("modalities", ", ".join(metrics["modalities"])),
            ("test samples", str(metrics["n_samples"]))]
    rows += [(name, f"{metrics[key]:.4f}") for name, key in (
        ("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
        ("log-loss", "log_loss"), ("expected calibration error", "expected_calibration_error"),
        ("demo ceiling", "demo_ceiling")) if key in metrics]
    rows += [(key.replace("_", " "), f"{value:.4f}") for key, value in metrics.items()
             if key.startswith("top_")]
    rows.insert(4, ("macro-F1", f"{metrics['macro']['f1']:.4f}"))
    return rows + [("training", f"{metrics['epochs']} epochs, {metrics['train_seconds']:.1f} s")]


def data_summary(model_inputs: ModelInputs) -> dict:
    """Samples per class and split, and per modality and split."""
    split, labels = model_inputs["split"], model_inputs["label"]
    classes = sorted(set(labels.tolist()))
    return {
        "splits": SPLITS,
        "classes": [(c, [int(((labels == c) & (split == s)).sum()) for s in SPLITS])
                    for c in classes],
        "presence": [(m, [int((model_inputs[f"{m}_present"] & (split == s)).sum())
                          for s in SPLITS]) for m in modalities_of(model_inputs)],
    }


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def flattened(values: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Every leaf of nested settings as (dotted key, value), the way `--params` names them."""
    rows = []
    for key, value in sorted(values.items()):
        if isinstance(value, dict) and value:
            rows += flattened(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", json.dumps(value, default=str)))
    return rows


def record_rows(record: dict) -> list[tuple[str, str]]:
    """The run record as a table: what produced the run, without the parameters, which have
    their own table."""
    rows = [(key, str(value)) for key, value in record.items()
            if key not in ("parameters", "libraries")]
    libraries = ", ".join(f"{name} {version}" for name, version in record.get(
        "libraries", {}).items())
    return rows + ([("libraries", libraries)] if libraries else [])


def cell(value: object) -> str:
    """A table cell: numbers to four places, nothing for a missing value."""
    return fmt(value) if isinstance(value, float) else "" if value is None else str(value)


def render_report(title: str, subtitle: str, parameters: dict, model_inputs: ModelInputs,
                  figures: list[go.Figure], metrics: dict | None = None,
                  analysis: dict | None = None, leaderboard: list[dict] | None = None,
                  quarantined: int | None = None, record: dict | None = None) -> str:
    """The page, from what the run produced; sections without data are left out."""
    template = Environment(loader=PackageLoader("multimodal_fusion.evaluation"),
                           autoescape=select_autoescape()).get_template("report.html")
    return template.render(
        title=title, subtitle=subtitle, plots=figure_html(figures),
        headline=headline(metrics) if metrics else None,
        by_presence=[(name, {k: fmt(v) if k != "n_samples" else v for k, v in row.items()})
                     for name, row in metrics["by_presence"].items() if row["n_samples"]]
        if metrics else None,
        contributions=[{"modality": m, "shapley": fmt(analysis["shapley"][m]),
                        "alone": fmt(analysis["alone"][m]),
                        "without": fmt(analysis["ablation"][m]["accuracy_without"]),
                        "drop": fmt(analysis["ablation"][m]["drop"])}
                       for m in sorted(analysis["shapley"])] if analysis else None,
        leaderboard=[{c: cell(row.get(c)) for c in LEADERBOARD_COLUMNS}
                     for row in leaderboard or []],
        leaderboard_columns=LEADERBOARD_COLUMNS,
        quarantined=None if quarantined is None else (
            f"{quarantined} inputs were set aside by validation; see the quarantine report."
            if quarantined else "Validation set nothing aside."),
        record=record_rows(record) if record else None,
        parameters=flattened(parameters),
        **data_summary(model_inputs),
    )
