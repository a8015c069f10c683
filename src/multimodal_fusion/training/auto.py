"""`training.model.fusion: auto`: choose the strategy on validation.

Every candidate trains on the same split and features; the one with the best validation
macro-F1 of its kept weights wins (a tie goes to the one listed first). With a search
budget (`max_epochs`) below the training's own, the candidates train for that many epochs
at most and the winner is trained again with the full settings; without one (the
default), they train in full and the winner is kept as it is, which costs the same as a
short search and a refit on the suite and ranks the candidates more reliably (see
benchmarks/README.md). What was tried, what each scored, what it cost and why the winner
won are recorded in the model's spec, stored with the model and reported with its
metrics; the seconds are those of the candidates' trainings, so they stay true when
`compare` reuses a training its own namespace already ran (`training.reuse`). The test
split is never looked at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.models.inputs import ModelInputs

logger = logging.getLogger(__name__)
# How to train one strategy: (model inputs, training settings, seed) -> (model, history).
Trainer = Callable[[ModelInputs, dict, int], tuple[nn.Module, list[dict]]]


@dataclass(frozen=True)
class AutoSettings:
    """The search `auto` runs; each field is documented in parameters_training.yml."""

    candidates: tuple[str, ...] | list[str]
    max_epochs: int | None

    def __post_init__(self) -> None:
        if not self.candidates or "auto" in self.candidates:
            raise ValueError("training.auto.candidates: list one or more strategies, not auto")


def with_fusion(settings: dict, fusion: str, **fit: object) -> dict:
    """The training settings with another strategy and, optionally, other fit settings."""
    return {**settings, "model": {**settings["model"], "fusion": fusion},
            "fit": {**settings["fit"], **fit}}


def choose_and_fit(model_inputs: ModelInputs, settings: dict, seed: int,
                   train: Trainer) -> tuple[nn.Module, list[dict]]:
    """Train each candidate with `train`, keep the best on validation (trained in full)."""
    search = typed_settings(AutoSettings, settings["auto"], "training.auto")
    short = search.max_epochs is not None and search.max_epochs < settings["fit"]["max_epochs"]
    budget = {"max_epochs": search.max_epochs, "checkpoint_dir": None} if short else {}
    tried, best = [], None
    for candidate in search.candidates:
        model, history = train(model_inputs, with_fusion(settings, candidate, **budget), seed)
        score = max(epoch["val_macro_f1"] for epoch in history)
        tried.append({"strategy": candidate, "val_macro_f1": score,
                      "seconds": sum(epoch["seconds"] for epoch in history)})
        logger.info("auto: %s scores %.4f validation macro-F1", candidate, score)
        if best is None or score > best[0]:
            best = (score, candidate, model, history)
    score, chosen, model, history = best
    search_seconds = sum(candidate["seconds"] for candidate in tried)
    if short:
        model, history = train(model_inputs, with_fusion(settings, chosen), seed)
    epochs = f"at most {search.max_epochs} epochs each, then trained in full" if short else (
        "in full")
    model.spec["auto"] = {
        "candidates": list(search.candidates), "max_epochs": search.max_epochs,
        "tried": tried, "chosen": chosen, "search_seconds": search_seconds,
        "reason": f"highest validation macro-F1 ({score:.4f}) of {len(tried)} candidates "
                  f"trained {epochs}",
    }
    logger.info("auto: chose %s (%s); the search took %.0f s", chosen,
                model.spec["auto"]["reason"], search_seconds)
    return model, history
