"""Which modality a model leans on, and how it holds up when they go missing or noisy. No Kedro.

Everything runs through the presence mask the model already takes: hiding a modality is
setting its mask to False, as for a sample that never had it, so nothing is retrained.
A modality's embedding does not depend on which others a sample has, so each modality of
the test split is encoded once (`embed_split`, a part at a time) and every figure but the
noise curves runs the fusion and the head alone on those embeddings. Every model splits
so (`embed` then `fuse`): the networks at their encoders, the linear references at their
scaled vectors (`linear_early`) or per-modality logits (`linear_late`).

- ablation: each modality hidden from every sample, and the accuracy it costs;
- Shapley values: each modality's share of (accuracy with all) - (accuracy with none),
  exact, from the accuracy of every subset of the modalities (2^M fusions);
- the missing-modality curve: a share of the (sample, modality) pairs hidden at random,
  from none to all; the draws are nested (what hides at 20% also hides at 40%) and
  averaged over repeats, so the curve shows the trend and not the luck of one draw;
- a noise curve per modality: Gaussian noise added to its features, in units of each
  feature's spread over the test samples that have it; only the noised modality is
  encoded again, a part at a time.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from math import factorial

import numpy as np
import torch
from torch import Tensor, nn

from multimodal_fusion.core.progress import track
from multimodal_fusion.models.inputs import StoredSplit, drawn_positions
from multimodal_fusion.models.predict import device_of, for_inference

logger = logging.getLogger(__name__)
# Samples per forward pass, as predictions read them.
PART = 256


@dataclass(frozen=True)
class EvaluationSettings:
    """The `evaluation` parameters; see parameters_evaluation.yml."""

    top_k: int
    calibration_bins: int
    missing_shares: tuple[float, ...] | list[float]
    noise_levels: tuple[float, ...] | list[float]
    noise_samples: int | None
    repeats: int
    reference: str | None


@dataclass
class Embedded:
    """A split as the fusion sees it: each modality's embeddings, the presence masks and the
    labels, on the model's device."""

    embeddings: dict[str, Tensor]
    present: dict[str, Tensor]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, positions: np.ndarray) -> Embedded:
        """The samples at these positions, in that order."""
        index = torch.as_tensor(positions, dtype=torch.long)
        return Embedded({m: e[index.to(e.device)] for m, e in self.embeddings.items()},
                        {m: p[index.to(p.device)] for m, p in self.present.items()},
                        self.labels[positions])


@torch.no_grad()
def embed_split(model: nn.Module, split: StoredSplit) -> Embedded:
    """Every modality of the split through its encoder once, a part at a time."""
    device = device_of(model)
    model.eval()
    parts = [model.embed(part.to(device).inputs) for part in track(
        split.parts(PART), "evaluation: encoding the test split", len(split.bounds(PART)))]
    return Embedded({m: torch.cat([part[m] for part in parts]) for m in split.arrays},
                    {m: p.to(device) for m, p in split.present.items()},
                    split.labels.numpy())


@torch.no_grad()
def accuracy(model: nn.Module, embedded: Embedded, present: dict[str, Tensor] | None = None,
             embeddings: dict[str, Tensor] | None = None) -> float:
    """Accuracy with these presence masks or embeddings in place of the split's own."""
    present, embeddings = present or embedded.present, embeddings or embedded.embeddings
    probabilities = [torch.softmax(model.fuse(
        {m: e[start:start + PART] for m, e in embeddings.items()},
        {m: p[start:start + PART] for m, p in present.items()}).float(), dim=1)
        for start in range(0, len(embedded), PART)]
    predicted = torch.cat(probabilities).cpu().numpy().argmax(axis=1)
    return float((predicted == embedded.labels).mean())


def subset_accuracies(model: nn.Module, embedded: Embedded) -> dict[frozenset[str], float]:
    """The accuracy when only the modalities of each subset may be seen."""
    modalities = sorted(embedded.present)
    return {frozenset(kept): accuracy(model, embedded, present={
        m: p & (m in kept) for m, p in embedded.present.items()})
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


def missing_curve(model: nn.Module, embedded: Embedded, shares: list[float], repeats: int,
                  seed: int) -> list[dict[str, float]]:
    """Accuracy with each (sample, modality) pair hidden with probability `share`."""
    modalities = sorted(embedded.present)
    draws = [np.random.default_rng([seed, repeat]).random((len(embedded), len(modalities)))
             for repeat in range(repeats)]
    curve = []
    for share in shares:
        scores = [accuracy(model, embedded, present={
            m: embedded.present[m] & torch.from_numpy(draw[:, i] >= share).to(
                embedded.present[m].device) for i, m in enumerate(modalities)})
            for draw in draws]
        curve.append({"share": float(share), "accuracy": float(np.mean(scores))})
    return curve


def feature_spread(split: StoredSplit, modality: str) -> Tensor:
    """Per feature, the standard deviation of the modality's values over the split's samples
    that have it (ones with fewer than two), in float64, a part at a time."""
    present = split.present[modality]
    shape = split.arrays[modality].shape[1:]
    count = int(present.sum())
    if count <= 1:
        return torch.ones(shape)

    def total(term: Callable[[Tensor], Tensor]) -> Tensor:
        return sum((term(split.values(modality, start, stop)[present[start:stop]].double())
                    .sum(dim=0) for start, stop in split.bounds(PART)),
                   torch.zeros(shape, dtype=torch.float64))

    mean = total(lambda values: values) / count
    return (total(lambda values: (values - mean) ** 2) / (count - 1)).sqrt().float()


@torch.no_grad()
def noisy_embeddings(model: nn.Module, split: StoredSplit, modality: str, levels: list[float],
                     noise: list[np.random.Generator],
                     spread: Tensor) -> dict[tuple[float, int], Tensor]:
    """The modality's embeddings with noise of each level from each generator added to its
    values, in units of `spread`, keyed by (level, repeat)."""
    device = device_of(model)
    parts: dict[tuple[float, int], list[Tensor]] = {
        (level, repeat): [] for level in levels for repeat in range(len(noise))}
    for start, stop in track(split.bounds(PART), f"evaluation: noise curve of {modality}"):
        values = split.values(modality, start, stop)
        for repeat, generator in enumerate(noise):
            draw = torch.from_numpy(generator.standard_normal(tuple(values.shape)).astype(
                np.float32)) * spread
            for level in levels:
                noisy = {modality: (values + level * draw).to(device)}
                parts[level, repeat].append(model.embed(noisy)[modality])
    return {key: torch.cat(chunks) for key, chunks in parts.items()}


def noise_curves(model: nn.Module, split: StoredSplit, embedded: Embedded,
                 settings: EvaluationSettings, seed: int) -> dict[str, list[dict[str, float]]]:
    """Per modality, accuracy with noise of each level added to its features alone.

    Each level and repeat encodes the noised modality again, so a test split larger than
    `noise_samples` is measured on that many of its samples, drawn with the seed (the
    spread is still the whole split's). A modality whose inputs are not feature values
    (word ids for a trainable embedding) has no curve: noise has no meaning there.
    """
    measured, seen = split, embedded
    positions = drawn_positions(len(split), settings.noise_samples, seed)
    if positions is not None:
        measured, seen = split.subset(positions), embedded.subset(positions)
    clean = accuracy(model, seen)
    noised = [level for level in settings.noise_levels if level != 0]
    curves = {}
    for index, modality in enumerate(sorted(embedded.present)):
        if split.arrays[modality].dtype.kind != "f":
            logger.info("No noise curve for %s: its inputs are %s ids, not feature values",
                        modality, split.arrays[modality].dtype)
            continue
        noisy = noisy_embeddings(model, measured, modality, noised, [
            np.random.default_rng([seed, index, repeat]) for repeat in range(settings.repeats)],
            feature_spread(split, modality))
        curves[modality] = [{"level": float(level), "accuracy": clean if level == 0 else float(
            np.mean([accuracy(model, seen, embeddings=seen.embeddings | {
                modality: noisy[level, repeat]}) for repeat in range(settings.repeats)]))}
            for level in settings.noise_levels]
    return curves


def modality_analysis(model: nn.Module, split: StoredSplit, settings: EvaluationSettings,
                      seed: int) -> dict:
    """Ablation, Shapley values, the accuracy with each modality alone, the missing-modality
    and noise curves, and what chance is here (the test share of the most frequent class:
    the best a model seeing nothing can do). It runs on the model's inference copy
    (`for_inference`): the noise curves encode the test split a dozen times over.
    """
    model = for_inference(model)
    embedded = embed_split(model, split)
    scores = subset_accuracies(model, embedded)
    everyone = max(scores, key=len)
    return {
        "accuracy_all": scores[everyone],
        "accuracy_none": scores[frozenset()],
        "alone": {m: scores[frozenset({m})] for m in sorted(everyone)},
        "chance": float(np.bincount(embedded.labels).max() / len(embedded)),
        "ablation": ablation(scores),
        "shapley": shapley_values(scores),
        "missing_curve": missing_curve(model, embedded, list(settings.missing_shares),
                                       settings.repeats, seed),
        "noise_curves": noise_curves(model, split, embedded, settings, seed),
    }
