"""Nodes of the `compare` pipeline."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from multimodal_fusion.evaluation.leaderboard import leaderboard_figure, leaderboard_rows
from multimodal_fusion.evaluation.plots import leaderboard_chart
from multimodal_fusion.evaluation.report import render_report
from multimodal_fusion.fusion import UNIMODAL_BASELINES, applies_to, selected
from multimodal_fusion.models.classifier import MultimodalClassifier, SkippedStrategy
from multimodal_fusion.models.inputs import ModelInputs, modalities_of
from multimodal_fusion.runs.record import run_record
from multimodal_fusion.training.memo import TrainingMemo


def train_with_fusion(model_inputs: ModelInputs, settings: dict, compare: dict, seed: int, *,
                      fusion: str, memo: TrainingMemo
                      ) -> tuple[MultimodalClassifier | SkippedStrategy, list[dict]]:
    """Train with the shared training settings, but this namespace's fusion strategy; a
    strategy not selected, or a baseline whose modality this data lacks, is skipped. The
    namespaces share `memo`, so `auto` reuses its candidates' trainings."""
    if not selected(fusion, compare["strategies"]):
        return SkippedStrategy(fusion, "not in compare.strategies"), []
    if not applies_to(fusion, modalities_of(model_inputs)):
        missing = UNIMODAL_BASELINES.get(fusion, "any modality")
        return SkippedStrategy(fusion, f"no training sample has {missing}"), []
    settings = {**settings, "model": {**settings["model"], "fusion": fusion}}
    return memo.train(model_inputs, settings, seed)


def write_compare_report(rows: list[dict], model_inputs: ModelInputs, parameters: dict,
                         quarantine: pd.DataFrame, run: dict, manifest: pd.DataFrame) -> str:
    """The comparison on one self-contained HTML page: leaderboard, data, record, parameters."""
    ranked = [row for row in rows if row["rank"] is not None]
    return render_report(
        title=f"Comparison of {len(ranked)} strategies",
        subtitle=f"run {run['run_id']}: best {ranked[0]['strategy']}, test macro-F1 "
                 f"{ranked[0]['macro_f1']:.4f}" if ranked else f"run {run['run_id']}",
        parameters=parameters, model_inputs=model_inputs, figures=[leaderboard_chart(rows)],
        leaderboard=rows, quarantined=len(quarantine),
        record=run_record(run, parameters, manifest, parameters.get("seed")))


def build_leaderboard(**metrics_by_strategy: dict) -> tuple[list[dict], Figure]:
    """Every strategy ranked by test macro-F1, as JSON rows and as a bar chart."""
    rows = leaderboard_rows(metrics_by_strategy)
    return rows, leaderboard_figure(rows)
