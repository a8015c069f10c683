"""Cross-fitting: close candidates ranked by k-fold estimates over the training and
validation samples together, and kept as the bag of their fold models. No Kedro.

One validation split of a small data set ranks close candidates poorly: on Tux Paint's 135
validation samples the search's best trial scored 0.919 there and 0.839 on test. Here
each candidate trains once per fold of the training and validation samples (stratified by
label, drawn with the seed), each fold's model scored on the fold it did not see; the
out-of-fold probabilities cover every one of those samples, so a candidate's estimate
rests on all of them, and the ensemble's greedy selection weighs candidates on them too.
The model kept is the bag of the chosen candidates' fold models, each fold model trained
on (k-1)/k of the training and validation samples: the weights chosen on the out-of-fold
probabilities, spread evenly over a candidate's folds. The test split is never looked at;
the validation figures of a bagged model are no longer held out (its fold models saw
those samples), which is why its spec records the out-of-fold estimate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold
from torch import nn

from multimodal_fusion.models.ensemble import macro_f1_of, select_greedily
from multimodal_fusion.models.inputs import ModelInputs, batch_for_split, split_labels
from multimodal_fusion.models.predict import predict_proba
from multimodal_fusion.training.ensemble import combined, rounds_history
from multimodal_fusion.training.reuse import Result, StoredTrainer, TrainingStore

logger = logging.getLogger(__name__)
FITTED = ("train", "val")


@dataclass
class CrossFit:
    """One candidate trained on every fold: its fold models and their out-of-fold class
    probabilities, row for row with the training and validation samples."""

    models: list[nn.Module]
    probabilities: np.ndarray
    seconds: float


def fold_inputs(model_inputs: ModelInputs, folds: int, seed: int) -> list[ModelInputs]:
    """The model inputs once per fold: that fold's samples as the validation split, the
    other training and validation samples as the training split, the test split as it is."""
    rows = np.flatnonzero(np.isin(model_inputs["split"], FITTED))
    labels = model_inputs["label"][rows]
    names, counts = np.unique(labels, return_counts=True)
    if counts.min() < folds:
        rarest = str(names[counts.argmin()])
        raise ValueError(
            f"training.search.folds {folds}: class {rarest!r} has only "
            f"{counts.min()} training and validation samples; give at most {counts.min()} "
            "folds, or 0 to choose on the validation split alone")
    out = []
    for _, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, labels):
        split = model_inputs["split"].copy()
        split[rows] = "train"
        split[rows[held]] = "val"
        out.append({**model_inputs, "split": split})
    return out


def fitted_labels(model_inputs: ModelInputs, spec: dict) -> np.ndarray:
    """The class index of every training and validation sample, in the inputs' order."""
    joined = {**model_inputs, "split": np.where(np.isin(model_inputs["split"], FITTED),
                                                "val", model_inputs["split"])}
    return split_labels(joined, "val", spec).numpy()


def cross_fit(model_inputs: ModelInputs, settings: dict, seed: int, train: StoredTrainer,
              stores: list[TrainingStore]) -> CrossFit:
    """A candidate's fold models (each kept in its fold's store, so a rerun loads it) and
    out-of-fold probabilities."""
    folds = fold_inputs(model_inputs, len(stores), seed)
    fitted = np.isin(model_inputs["split"], FITTED)
    position = np.cumsum(fitted) - 1
    models, parts, seconds = [], [], 0.0
    for inputs, store in zip(folds, stores, strict=True):
        model, history = train(inputs, settings, seed, store)
        held = position[inputs["split"] == "val"]
        parts.append((held, predict_proba(model, batch_for_split(inputs, "val", model.spec))))
        models.append(model)
        seconds += sum(epoch["seconds"] for epoch in history)
    probabilities = np.zeros((int(fitted.sum()), parts[0][1].shape[1]), dtype=np.float32)
    for held, predicted in parts:
        probabilities[held] = predicted
    return CrossFit(models, probabilities, seconds)


def fold_stores(folder: Path, folds: int, build: Callable[[dict], nn.Module]
                ) -> list[TrainingStore]:
    """One store per fold: a store keeps one data set's trainings, and each fold's split
    makes its data another."""
    return [TrainingStore(folder / f"fold-{number}", build) for number in range(folds)]


def bag_of_best(model_inputs: ModelInputs, candidates: dict[str, dict], seed: int,
                train: StoredTrainer, stores: list[TrainingStore], rounds: int,
                build_ensemble: Callable[[dict], nn.Module]) -> Result:
    """The bag of the candidates (settings by name) chosen on out-of-fold probabilities:
    with `rounds` 1 the best one's fold models, with more the greedy selection's mix."""
    started = time.perf_counter()
    fits = {name: cross_fit(model_inputs, settings, seed, train, stores)
            for name, settings in candidates.items()}
    spec = next(iter(fits.values())).models[0].spec
    labels = fitted_labels(model_inputs, spec)
    names = list(fits)
    weights, scores = select_greedily([fits[n].probabilities for n in names], labels, rounds)
    alone = {name: macro_f1_of(fits[name].probabilities, labels) for name in names}
    chosen = {name: weight for name, weight in zip(names, weights, strict=True) if weight > 0}
    members = [(model, weight / len(stores)) for name, weight in chosen.items()
               for model in fits[name].models]
    bag = combined(members, build_ensemble, {
        "candidates": alone, "members": list(chosen), "weights": list(chosen.values()),
        "rounds": rounds, "val_macro_f1": max(scores), "folds": len(stores),
        "estimate": "out-of-fold macro-F1 over the training and validation samples"})
    trained = sum(fit.seconds for fit in fits.values())
    selection = time.perf_counter() - started
    history = rounds_history(scores, trained, selection)
    logger.info("cross-fit: %s over %d folds, out-of-fold macro-F1 %.4f (best candidate "
                "alone %.4f)", ", ".join(f"{name} {weight:.2f}" for name, weight in
                                         chosen.items()), len(stores), max(scores),
                max(alone.values()))
    return bag, history
