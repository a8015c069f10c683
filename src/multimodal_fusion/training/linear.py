"""Fit the linear reference baselines (`models.linear`) with scikit-learn.

Same split and features as the neural strategies: the regressions learn on the training
split, and the regularisation strength C is chosen from `C_GRID` by validation macro-F1.
`linear_late`'s stacking regression learns from out-of-fold probabilities of the training
samples, so it never sees a per-modality model's answers on the samples it was fitted on.
The regressions hold their splits' fixed vectors whole, so each split is drawn down to
`training.linear.max_samples` first.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.npz import chunk_rows
from multimodal_fusion.models.inputs import Batch, ModelInputs, StoredSplit, drawn_positions
from multimodal_fusion.models.linear import LinearLate, fixed_vectors, fixed_width, masked

if TYPE_CHECKING:
    from multimodal_fusion.training.auto import Trainer
    from multimodal_fusion.training.strategies import Strategy

logger = logging.getLogger(__name__)
C_GRID = (0.01, 0.1, 1.0, 10.0)
STACK_FOLDS = 3
ABSENT_CLASS_LOGIT = -1e4


@dataclass(frozen=True)
class LinearSettings:
    """The `training.linear` parameters; see parameters_training.yml."""

    max_samples: int | None


def fit_logistic(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                 seed: int) -> tuple[LogisticRegression, float]:
    """The logistic regression of the C that scores best on validation, and that score."""
    best: tuple[float, LogisticRegression] | None = None
    for strength in C_GRID:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=strength, max_iter=500, random_state=seed)
            model.fit(*train)
        score = f1_score(val[1], model.predict(val[0]), average="macro", zero_division=0) if len(
            val[1]) else 0.0
        if best is None or score > best[0]:
            best = (score, model)
    return best[1], best[0]


def class_weights(model: LogisticRegression, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes, features) weights and biases over every class of the spec: a binary
    regression becomes two softmax rows, and a class it never saw gets a hopeless bias."""
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, intercept]
    weight = np.zeros((num_classes, coef.shape[1]))
    bias = np.full(num_classes, ABSENT_CLASS_LOGIT)
    weight[model.classes_], bias[model.classes_] = coef, intercept
    return weight, bias


def set_parameters(weight: torch.nn.Parameter, bias: torch.nn.Parameter,
                   model: LogisticRegression) -> None:
    values, offsets = class_weights(model, len(bias))
    weight.copy_(torch.from_numpy(values))
    bias.copy_(torch.from_numpy(offsets))


def drawn(split: StoredSplit, limit: int | None, seed: int, name: str) -> StoredSplit:
    """At most `limit` of the split's samples, drawn with the seed, in their order."""
    positions = drawn_positions(len(split), limit, seed)
    if positions is None:
        return split
    logger.info("The linear reference fits on %s of the %s %s samples "
                "(training.linear.max_samples)", f"{limit:,}", f"{len(split):,}", name)
    return split.subset(positions)


def fixed_split(stored: StoredSplit, spec: dict) -> Batch:
    """A split with each modality's fixed vectors for inputs, made a part at a time: the
    regressions never hold the split's images or spectrograms whole."""
    size = chunk_rows(*stored.arrays.values())
    parts = [fixed_vectors(spec, part.inputs) for part in stored.parts(size)]
    empty = {m: torch.zeros(0, fixed_width(spec["modalities"][m])) for m in stored.arrays}
    inputs = {m: torch.cat([part[m] for part in parts]) if parts else empty[m]
              for m in stored.arrays}
    return Batch(inputs, stored.present, stored.labels)


def fit_scalers(model: torch.nn.Module, train: Batch) -> None:
    """Each block standardised by the training samples that have it, then scaled to unit
    expected norm, so a 3,000-wide block weighs no more than a 40-wide one. A value that
    never varies in training carries nothing and is dropped. `train` holds fixed vectors."""
    for modality, scaler in model.scalers.items():
        vectors = train.inputs[modality][train.present[modality]]
        spread = vectors.std(dim=0, unbiased=False)
        varies = spread > 1e-6
        scaler.mean.copy_(vectors.mean(dim=0))
        scaler.scale.copy_(torch.where(varies, 1.0 / spread.clamp_min(1e-6), 0.0)
                           / max(int(varies.sum()), 1) ** 0.5)


def folds(labels: np.ndarray, seed: int) -> KFold | StratifiedKFold:
    """Stratified folds where every class has enough samples, plain ones otherwise."""
    counts = np.bincount(labels)
    if counts[counts > 0].min() >= STACK_FOLDS:
        return StratifiedKFold(STACK_FOLDS, shuffle=True, random_state=seed)
    return KFold(STACK_FOLDS, shuffle=True, random_state=seed)


def fit_late_members(model: LinearLate, train: Batch, val: Batch, seed: int) -> np.ndarray:
    """Fit each modality's regression; the out-of-fold design of the stacking regression."""
    classes = len(model.spec["classes"])
    stacked, flags = [], []
    for modality in model.modalities:
        rows, val_rows = train.present[modality], val.present[modality]
        scaler = model.scalers[modality]
        scaled = masked(scaler.standardised(train.inputs[modality]), rows).numpy()
        val_scaled = masked(scaler.standardised(val.inputs[modality]), val_rows).numpy()
        member, _ = fit_logistic((scaled[rows], train.labels[rows].numpy()),
                                 (val_scaled[val_rows], val.labels[val_rows].numpy()), seed)
        set_parameters(model.weights[modality], model.biases[modality], member)
        out_of_fold = np.zeros((len(train), classes))
        labels = train.labels[rows].numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probabilities = cross_val_predict(
                LogisticRegression(C=member.C, max_iter=500, random_state=seed), scaled[rows],
                labels, cv=folds(labels, seed), method="predict_proba")
        out_of_fold[np.ix_(rows.numpy(), np.unique(labels))] = probabilities
        stacked.append(out_of_fold)
        flags.append((~rows).numpy().astype(float)[:, np.newaxis])
    return np.hstack(stacked + flags)


@torch.no_grad()
def fit_linear_reference(strategy: Strategy, model_inputs: ModelInputs, settings: dict,
                         seed: int, train: Trainer) -> tuple[torch.nn.Module, list[dict]]:
    """`linear_early` or `linear_late` for these inputs, and a one-entry history; a linear
    reference trains no other strategy, so `train` goes unused here."""
    started = time.perf_counter()
    spec = strategy.spec(model_inputs, settings["model"])
    model = strategy.model(spec)
    limit = typed_settings(LinearSettings, settings["linear"], "training.linear").max_samples
    train, val = (fixed_split(drawn(StoredSplit(model_inputs, name, spec), limit, seed, name),
                              spec) for name in ("train", "val"))
    fit_scalers(model, train)
    if isinstance(model, LinearLate):
        design = fit_late_members(model, train, val, seed)
        weight, bias = model.stack_weight, model.stack_bias
    else:
        design = model.design(model.embed_fixed(train.inputs), train.present).numpy()
        weight, bias = model.weight, model.bias
    val_design = model.design(model.embed_fixed(val.inputs), val.present).numpy()
    final, val_f1 = fit_logistic((design, train.labels.numpy()),
                                 (val_design, val.labels.numpy()), seed)
    set_parameters(weight, bias, final)
    logits = model.fuse(model.embed_fixed(train.inputs), train.present)
    probabilities = torch.softmax(logits, dim=1).numpy()
    history = [{"epoch": 1, "C": final.C, "val_macro_f1": val_f1,
                "train_loss": log_loss(train.labels.numpy(), probabilities,
                                       labels=range(len(spec["classes"]))),
                "seconds": time.perf_counter() - started}]
    logger.info("%s: C %g, val macro-F1 %.4f", spec["fusion"], final.C, val_f1)
    return model.eval(), history
