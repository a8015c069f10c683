"""`training.model.fusion: ensemble`: members trained, then weighted by greedy selection on
validation (`models.ensemble`). No Kedro.

The members are the strategies `training.ensemble.members` names, each trained with the
training settings through `train`, so `compare` hands over the trainings its own
namespaces ran; after a hyperparameter search they are the search's completed trials,
whose models its store keeps. The test split is never looked at.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.models.ensemble import select_greedily
from multimodal_fusion.models.inputs import ModelInputs, batch_for_split, split_labels
from multimodal_fusion.models.predict import predict_proba
from multimodal_fusion.training.auto import Trainer, with_fusion
from multimodal_fusion.training.reuse import Result

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleSettings:
    """What the ensemble selects from; each field is documented in parameters_training.yml."""

    members: tuple[str, ...] | list[str]
    rounds: int

    def __post_init__(self) -> None:
        if not self.members or {"auto", "ensemble"} & set(self.members):
            raise ValueError("training.ensemble.members: list one or more strategies, not auto "
                             "or ensemble")
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"training.ensemble.rounds {self.rounds!r}: give 1 or more")


def ensemble_settings(settings: dict) -> EnsembleSettings:
    return typed_settings(EnsembleSettings, settings["ensemble"], "training.ensemble")


def train_members(model_inputs: ModelInputs, settings: dict, seed: int,
                  train: Trainer) -> dict[str, Result]:
    """Each member strategy trained (or taken from a store) with the training settings."""
    return {name: train(model_inputs, with_fusion(settings, name), seed)
            for name in ensemble_settings(settings).members}


def combined(members: list[tuple[nn.Module, float]], build: Callable[[dict], nn.Module],
             record: dict) -> nn.Module:
    """One ensemble model of trained members and their weights, with the weights already in
    it; `record` says how they were chosen (the spec's `ensemble`)."""
    modalities: dict = {}
    for model, _ in members:
        modalities = model.spec["modalities"] | modalities
    ensemble = build({
        "fusion": "ensemble", "classes": members[0][0].spec["classes"],
        "modalities": modalities, "members": [model.spec for model, _ in members],
        "weights": [weight for _, weight in members], "ensemble": record})
    for member, (model, _) in zip(ensemble.members, members, strict=True):
        member.load_state_dict(model.state_dict())
    return ensemble.eval()


def rounds_history(scores: list[float], trained: float, selection: float) -> list[dict]:
    """A selection's history, one entry per round (the validation macro-F1 of the ensemble
    so far); the first round's seconds include the candidates' trainings, so the run's
    training time is what the ensemble cost."""
    return [{"epoch": number, "train_loss": None, "val_macro_f1": score,
             "seconds": (trained if number == 1 else 0.0) + selection / len(scores)}
            for number, score in enumerate(scores, start=1)]


def ensemble_of(candidates: dict[str, Result], model_inputs: ModelInputs, rounds: int,
                build: Callable[[dict], nn.Module]) -> Result:
    """The greedy selection's ensemble of these trained candidates, by name, and its
    history (`rounds_history`)."""
    started = time.perf_counter()
    names = list(candidates)
    models = [candidates[name][0] for name in names]
    labels = split_labels(model_inputs, "val", models[0].spec).numpy()
    probabilities = [predict_proba(model, batch_for_split(model_inputs, "val", model.spec))
                     for model in models]
    weights, scores = select_greedily(probabilities, labels, rounds)
    kept = [(name, model, weight) for name, model, weight
            in zip(names, models, weights, strict=True) if weight > 0]
    alone = {name: max(epoch["val_macro_f1"] for epoch in candidates[name][1])
             for name in names}
    ensemble = combined([(model, weight) for _, model, weight in kept], build, {
        "candidates": alone, "members": [name for name, _, _ in kept],
        "weights": [weight for _, _, weight in kept], "rounds": rounds,
        "val_macro_f1": max(scores)})
    trained = sum(epoch["seconds"] for _, history in candidates.values() for epoch in history)
    selection = time.perf_counter() - started
    history = rounds_history(scores, trained, selection)
    logger.info("ensemble: %s, validation macro-F1 %.4f (best member alone %.4f)",
                ", ".join(f"{name} {weight:.2f}" for name, _, weight in kept), max(scores),
                max(alone.values()))
    return ensemble, history
