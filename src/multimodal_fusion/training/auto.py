"""`training.model.fusion: auto`: choose the strategy on validation, then train it in full.

Every candidate trains on the same split and features for a short budget (`max_epochs`);
the one with the best validation macro-F1 of its kept weights wins (a tie goes to the one
listed first) and is trained again with the full training settings. What was tried, what
each scored, what it cost and why the winner won are recorded in the model's spec, so
they are stored with the model and reported with its metrics. The test split is never
looked at.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from multimodal_fusion.config import typed_settings
from multimodal_fusion.fusion import check_strategy
from multimodal_fusion.models.inputs import ModelInputs

logger = logging.getLogger(__name__)
Trainer = Callable[[ModelInputs, dict, int], tuple[nn.Module, list[dict]]]


@dataclass(frozen=True)
class AutoSettings:
    """The search `auto` runs; each field is documented in parameters_training.yml."""

    candidates: tuple[str, ...] | list[str] = ("late", "concat", "gated", "linear_late")
    max_epochs: int = 15

    def __post_init__(self) -> None:
        if not self.candidates or "auto" in self.candidates:
            raise ValueError("training.auto.candidates: list one or more strategies, not auto")
        for candidate in self.candidates:
            check_strategy(candidate)


def with_fusion(settings: dict, fusion: str, **fit: object) -> dict:
    """The training settings with another strategy and, optionally, other fit settings."""
    return {**settings, "model": {**settings["model"], "fusion": fusion},
            "fit": {**settings["fit"], **fit}}


def choose_and_fit(model_inputs: ModelInputs, settings: dict, seed: int,
                   train: Trainer) -> tuple[nn.Module, list[dict]]:
    """Try each candidate with `train` on the short budget, then train the winner in full."""
    search = typed_settings(AutoSettings, settings.get("auto"), "training.auto")
    started = time.perf_counter()
    tried = []
    for candidate in search.candidates:
        began = time.perf_counter()
        _, history = train(model_inputs, with_fusion(settings, candidate,
                                                     max_epochs=search.max_epochs,
                                                     checkpoint_dir=None), seed)
        tried.append({"strategy": candidate,
                      "val_macro_f1": max(epoch["val_macro_f1"] for epoch in history),
                      "seconds": time.perf_counter() - began})
        logger.info("auto: %s scores %.4f validation macro-F1 after at most %d epochs",
                    candidate, tried[-1]["val_macro_f1"], search.max_epochs)
    best = max(tried, key=lambda t: t["val_macro_f1"])  # the first of equals wins
    search_seconds = time.perf_counter() - started
    model, history = train(model_inputs, with_fusion(settings, best["strategy"]), seed)
    model.spec["auto"] = {
        "candidates": list(search.candidates), "max_epochs": search.max_epochs,
        "tried": tried, "chosen": best["strategy"], "search_seconds": search_seconds,
        "reason": f"highest validation macro-F1 ({best['val_macro_f1']:.4f}) of "
                  f"{len(tried)} candidates trained for at most {search.max_epochs} epochs",
    }
    logger.info("auto: chose %s (%s); the search took %.0f s", best["strategy"],
                model.spec["auto"]["reason"], search_seconds)
    return model, history
