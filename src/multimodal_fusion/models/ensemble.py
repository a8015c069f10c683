"""`fusion: ensemble`: trained models averaged with weights that greedy selection chose. No Kedro.

The weights come from Caruana's ensemble selection, as AutoGluon's weighted ensemble does
it: starting from nothing, each round adds (with replacement) the member whose addition
gives the averaged validation probabilities the best macro-F1; the ensemble kept is the
best of the rounds, so it is never worse on validation than its best member, which the
first round picks. A member's weight is how often it was picked.

The ensemble is one model like the others: a spec (each member's spec, the weights) and
one weights file, its probabilities the weighted mean of its members'. Like every model
it splits into `embed` and `fuse`, so evaluation encodes the test split once: a
modality's embedding is every member's embedding of it, flattened side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import Tensor, nn


class EnsembleClassifier(nn.Module):
    """Members built from their specs by `build`, averaged with `spec["weights"]`."""

    def __init__(self, spec: dict, build: Callable[[dict], nn.Module]) -> None:
        super().__init__()
        self.spec = spec
        self.members = nn.ModuleList(build(member) for member in spec["members"])
        self.register_buffer("weights", torch.tensor(spec["weights"], dtype=torch.float32),
                             persistent=False)
        self.modalities = sorted(spec["modalities"])
        self.shapes: dict[str, list[tuple[int, ...]]] = {}

    def member_probabilities(self, logits: list[Tensor]) -> Tensor:
        """The weighted mean of the members' class probabilities."""
        stacked = torch.stack([torch.softmax(one.float(), dim=1) for one in logits])
        return (stacked * self.weights[:, None, None]).sum(dim=0)

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """Log of the averaged probabilities: what softmax turns back into them."""
        logits = [member(own(member, inputs), own(member, present)) for member in self.members]
        return self.member_probabilities(logits).clamp_min(1e-12).log()

    def embed(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Per modality, each member's embedding of it flattened, side by side; the shapes
        are kept for `fuse` to take them apart again."""
        embedded = [member.embed(own(member, inputs)) for member in self.members]
        out = {}
        for modality in (m for m in self.modalities if m in inputs):
            parts = [one[modality] for one in embedded if modality in one]
            self.shapes[modality] = [tuple(part.shape[1:]) for part in parts]
            out[modality] = torch.cat([part.flatten(1) for part in parts], dim=1)
        return out

    def fuse(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """`forward` from embeddings `embed` made."""
        pieces = {m: iter(torch.split(values, [math.prod(s) for s in self.shapes[m]], dim=1))
                  for m, values in embeddings.items()}
        shapes = {m: iter(self.shapes[m]) for m in embeddings}
        logits = []
        for member in self.members:
            own_embeddings = {m: next(pieces[m]).reshape(-1, *next(shapes[m]))
                              for m in member.spec["modalities"] if m in embeddings}
            logits.append(member.fuse(own_embeddings, own(member, present)))
        return self.member_probabilities(logits).clamp_min(1e-12).log()


def own(member: nn.Module, values: dict[str, Tensor]) -> dict[str, Tensor]:
    """The entries of the modalities a member reads."""
    return {m: v for m, v in values.items() if m in member.spec["modalities"]}


def macro_f1_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(f1_score(labels, probabilities.argmax(axis=1), average="macro",
                          zero_division=0))


def select_greedily(probabilities: list[np.ndarray], labels: np.ndarray,
                    rounds: int) -> tuple[list[float], list[float]]:
    """Caruana's selection with replacement: the weights of the best round, and each
    round's validation macro-F1. A tie goes to the member listed first."""
    picked = np.zeros(len(probabilities))
    total = np.zeros_like(probabilities[0])
    scores, best = [], (-1.0, picked)
    for round_number in range(1, rounds + 1):
        trial_scores = [macro_f1_of((total + p) / round_number, labels) for p in probabilities]
        choice = int(np.argmax(trial_scores))
        picked[choice] += 1
        total += probabilities[choice]
        scores.append(trial_scores[choice])
        if trial_scores[choice] > best[0]:
            best = (trial_scores[choice], picked.copy())
    return (best[1] / best[1].sum()).tolist(), scores
