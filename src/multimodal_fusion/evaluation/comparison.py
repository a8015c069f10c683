"""`compare`: one strategy trained and scored on the shared split, as a metrics record. No Kedro.

Every strategy of the registry gets a record: its test metrics and kind, or, for one that
was not selected or cannot train on this data (a baseline whose modality no training
sample has), the reason it was skipped. Trainings go through a store on disk
(`training.reuse`), so `auto` reuses its candidates' trainings whichever runs first, and
any runner gives the same records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.evaluation.robustness import EvaluationSettings
from multimodal_fusion.evaluation.scoring import predict_test_split, score_test_split
from multimodal_fusion.models.inputs import ModelInputs, modalities_of
from multimodal_fusion.training.reuse import TrainingStore
from multimodal_fusion.training.strategies import LINEAR, build_model, named, train

logger = logging.getLogger(__name__)
ALL = "all"


@dataclass(frozen=True)
class CompareSettings:
    """Which strategies `compare` trains and where it keeps their trainings; see
    parameters_compare.yml."""

    strategies: str | list[str]
    trainings: str | None


def selected(name: str, choice: str | list[str]) -> bool:
    """Whether `compare.strategies` (all, or a list of names) selects strategy `name`; a
    name it lists that no strategy has is an error, naming the known ones. The linear
    references are always selected: they cost seconds, and every strategy is read against
    them."""
    listed = [choice] if isinstance(choice, str) else list(choice)
    if listed == [ALL]:
        return True
    for strategy in listed:
        named(strategy, "compare.strategies")
    return name in listed or named(name).kind == LINEAR


def compare_strategy(name: str, model_inputs: ModelInputs, manifest: pd.DataFrame,
                     demo_metadata: dict, settings: dict, compare: dict, evaluation: dict,
                     seed: int) -> dict:
    """The metrics record of strategy `name` trained with the shared training settings.

    Args:
        name: the strategy, as the registry names it.
        model_inputs, manifest: the shared inputs and split manifest.
        demo_metadata: the demo's corruption record ({} for other data).
        settings: the `training` parameters; their strategy is replaced by `name`.
        compare: the `compare` parameters: which strategies, and where trainings are kept.
        evaluation: the `evaluation` parameters.
        seed: the project's seed.
    """
    strategy = named(name)
    chosen = typed_settings(CompareSettings, compare, "compare")
    reason = ("not in compare.strategies" if not selected(name, chosen.strategies)
              else strategy.unusable(modalities_of(model_inputs)))
    if reason:
        logger.info("%s: skipped, %s", name, reason)
        return {"fusion": name, "kind": strategy.kind, "skipped": reason}
    return score_strategy(name, model_inputs, manifest, demo_metadata, settings, chosen,
                          evaluation, seed)


def score_strategy(name: str, model_inputs: ModelInputs, manifest: pd.DataFrame,
                   demo_metadata: dict, settings: dict, compare: CompareSettings,
                   evaluation: dict, seed: int) -> dict:
    """Strategy `name` trained (or its stored training reused) and scored on the test split."""
    store = TrainingStore(compare.trainings, build_model) if compare.trainings else None
    settings = {**settings, "model": {**settings["model"], "fusion": name}}
    model, history = train(model_inputs, settings, seed, store)
    predictions = predict_test_split(model, model_inputs, manifest)
    return score_test_split(predictions, model, history, demo_metadata, evaluation) | {
        "kind": named(name).kind}


def reference_record(model_inputs: ModelInputs, manifest: pd.DataFrame, demo_metadata: dict,
                     settings: dict, compare: dict, evaluation: dict, seed: int) -> dict:
    """The metrics record of the strategy `evaluation.reference` names, as `compare` gives
    it (and reusing compare's training of it), for a run to be read against."""
    reference = typed_settings(EvaluationSettings, evaluation, "evaluation").reference
    if reference is None:
        return {"fusion": None, "skipped": "evaluation.reference is null"}
    strategy = named(reference, "evaluation.reference")
    reason = strategy.unusable(modalities_of(model_inputs))
    if reason:
        return {"fusion": reference, "kind": strategy.kind, "skipped": reason}
    return score_strategy(reference, model_inputs, manifest, demo_metadata, settings,
                          typed_settings(CompareSettings, compare, "compare"), evaluation, seed)
