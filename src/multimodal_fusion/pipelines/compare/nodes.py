"""Nodes of the `compare` pipeline."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from multimodal_fusion.evaluation.leaderboard import leaderboard_rows
from multimodal_fusion.evaluation.plots import leaderboard_chart
from multimodal_fusion.evaluation.report import render_report
from multimodal_fusion.models.inputs import ModelInputs
from multimodal_fusion.runs.record import run_record


def write_compare_report(rows: list[dict], chart: go.Figure, model_inputs: ModelInputs,
                         parameters: dict, quarantine: pd.DataFrame, run: dict,
                         manifest: pd.DataFrame) -> str:
    """The comparison on one self-contained HTML page: leaderboard, data, record, parameters."""
    ranked = [row for row in rows if row["rank"] is not None]
    return render_report(
        title=f"Comparison of {len(ranked)} strategies",
        subtitle=f"run {run['run_id']}: best {ranked[0]['strategy']}, test macro-F1 "
                 f"{ranked[0]['macro_f1']:.4f}" if ranked else f"run {run['run_id']}",
        parameters=parameters, model_inputs=model_inputs, figures=[chart],
        leaderboard=rows, quarantined=len(quarantine),
        record=run_record(run, parameters, manifest, parameters.get("seed")))


def build_leaderboard(**metrics_by_strategy: dict) -> tuple[list[dict], go.Figure]:
    """Every strategy ranked by test macro-F1, as JSON rows and as a bar chart."""
    rows = leaderboard_rows(metrics_by_strategy)
    return rows, leaderboard_chart(rows)
