"""Which modality a model leans on, and how it holds up when they go missing or noisy. No Kedro.

Everything runs through the presence mask the model already takes: hiding a modality is
setting its mask to False, as for a sample that never had it, so nothing is retrained and
each figure costs one pass over the test split.

- ablation: each modality hidden from every sample, and the accuracy it costs;
- Shapley values: each modality's share of (accuracy with all) - (accuracy with none),
  exact, from the accuracy of every subset of the modalities (2^M passes);
- the missing-modality curve: a share of the (sample, modality) pairs hidden at random,
  from none to all; the draws are nested (what hides at 20% also hides at 40%) and
  averaged over repeats, so the curve shows the trend and not the luck of one draw;
- a noise curve per modality: Gaussian noise added to its features, in units of each
  feature's spread over the test samples that have it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import factorial

import numpy as np
import torch
from torch import Tensor, nn

from multimodal_fusion.models.inputs import Batch
from multimodal_fusion.models.predict import predict_proba


@dataclass(frozen=True)
class EvaluationSettings:
    """The `evaluation` parameters; see parameters_evaluation.yml."""

    top_k: int
    calibration_bins: int
    missing_shares: tuple[float, ...] | list[float]
    noise_levels: tuple[float, ...] | list[float]
    repeats: int


def accuracy(model: nn.Module, batch: Batch, inputs: dict[str, Tensor] | None = None,
             present: dict[str, Tensor] | None = None) -> float:
    """Test accuracy with these inputs and presence masks in place of the batch's own."""
    changed = Batch(inputs or batch.inputs, present or batch.present, batch.labels)
    predicted = predict_proba(model, changed).argmax(axis=1)
    return float((predicted == batch.labels.numpy()).mean())


def subset_accuracies(model: nn.Module, batch: Batch) -> dict[frozenset[str], float]:
    """The accuracy when only the modalities of each subset may be seen."""
    modalities = sorted(batch.present)
    return {frozenset(kept): accuracy(model, batch, present={
        m: p & (m in kept) for m, p in batch.present.items()})
        for size in range(len(modalities) + 1)
        for kept in itertools.combinations(modalities, size)}


def shapley_values(scores: dict[frozenset[str], float]) -> dict[str, float]:
    """Each modality's average gain in accuracy over every order of adding the modalities;
    together they sum to the full set's accuracy minus the empty set's."""
    everyone = max(scores, key=len)
    count = len(everyone)
    values = {}
    for modality in sorted(everyone):
        others = everyone - {modality}
        values[modality] = sum(
            factorial(len(subset)) * factorial(count - len(subset) - 1) / factorial(count)
            * (scores[subset | {modality}] - scores[subset])
            for size in range(count) for subset in map(frozenset,
                                                       itertools.combinations(others, size)))
    return values


def ablation(scores: dict[frozenset[str], float]) -> dict[str, dict[str, float]]:
    """Per modality, the accuracy with it hidden from every sample and what that costs."""
    everyone = max(scores, key=len)
    return {m: {"accuracy_without": scores[everyone - {m}],
                "drop": scores[everyone] - scores[everyone - {m}]} for m in sorted(everyone)}


def missing_curve(model: nn.Module, batch: Batch, shares: list[float], repeats: int,
                  seed: int) -> list[dict[str, float]]:
    """Accuracy with each (sample, modality) pair hidden with probability `share`."""
    modalities = sorted(batch.present)
    draws = [np.random.default_rng([seed, repeat]).random((len(batch), len(modalities)))
             for repeat in range(repeats)]
    curve = []
    for share in shares:
        scores = [accuracy(model, batch, present={
            m: batch.present[m] & torch.from_numpy(draw[:, i] >= share)
            for i, m in enumerate(modalities)}) for draw in draws]
        curve.append({"share": float(share), "accuracy": float(np.mean(scores))})
    return curve


def noise_curves(model: nn.Module, batch: Batch, levels: list[float], repeats: int,
                 seed: int) -> dict[str, list[dict[str, float]]]:
    """Per modality, accuracy with noise of each level added to its features alone."""
    clean = accuracy(model, batch)
    curves = {}
    for index, modality in enumerate(sorted(batch.present)):
        values, present = batch.inputs[modality], batch.present[modality]
        spread = values[present].std(dim=0) if present.sum() > 1 else torch.ones_like(values[0])
        noise = [torch.from_numpy(np.random.default_rng([seed, index, repeat]).standard_normal(
            tuple(values.shape)).astype(np.float32)) * spread for repeat in range(repeats)]
        curves[modality] = [{"level": float(level), "accuracy": clean if level == 0 else float(
            np.mean([accuracy(model, batch, inputs=batch.inputs | {modality: values + level * z})
                     for z in noise]))} for level in levels]
    return curves


def modality_analysis(model: nn.Module, batch: Batch, settings: EvaluationSettings,
                      seed: int) -> dict:
    """Ablation, Shapley values, the missing-modality and noise curves, and what chance is
    here (the test share of the most frequent class: the best a model seeing nothing can do).
    """
    scores = subset_accuracies(model, batch)
    everyone = max(scores, key=len)
    return {
        "accuracy_all": scores[everyone],
        "accuracy_none": scores[frozenset()],
        "chance": float(np.bincount(batch.labels.numpy()).max() / len(batch)),
        "ablation": ablation(scores),
        "shapley": shapley_values(scores),
        "missing_curve": missing_curve(model, batch, list(settings.missing_shares),
                                       settings.repeats, seed),
        "noise_curves": noise_curves(model, batch, list(settings.noise_levels),
                                     settings.repeats, seed),
    }
