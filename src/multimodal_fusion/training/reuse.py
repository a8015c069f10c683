"""Finished trainings kept on disk by what determines them, so none is run twice. No Kedro.

A training is a pure function of its settings, its seed and its data, for one version of
the code (`checkpoint.TRAINING_VERSION`; the checkpoints rely on the same fingerprint), so
its result can be stored under a fingerprint of the four and loaded whenever they come
again: in `compare`, `auto` finds its candidates' trainings that their own namespaces ran
(or runs them first, for them to find), whichever runner runs the namespaces and in
whatever order. A store keeps the trainings of one data set, the latest: trainings of
other data are removed when one of new data is stored.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from torch import nn

from multimodal_fusion.models.inputs import ModelInputs
from multimodal_fusion.models.storage import load_model, save_model
from multimodal_fusion.training.checkpoint import run_key

logger = logging.getLogger(__name__)
WEIGHTS, HISTORY = "model.safetensors", "history.json"
Result = tuple[nn.Module, list[dict]]


class TrainingStore:
    """Trainings under `<folder>/<data fingerprint>/<settings and seed fingerprint>/`.

    `build` rebuilds a stored model from its spec (the strategy registry's `build_model`).
    """

    def __init__(self, folder: str | Path, build: Callable[[dict], nn.Module]) -> None:
        self.folder = Path(folder)
        self.build = build

    def reuse_or_fit(self, model_inputs: ModelInputs, settings: dict, seed: int,
                     fit: Callable[[], Result]) -> Result:
        """The stored result of this training, or `fit()`'s, stored for next time."""
        data = self.folder / run_key({}, {}, 0, model_inputs)
        place = data / run_key({}, settings, seed, {})
        stored = self.load(place)
        if stored is not None:
            logger.info("%s: the same settings, seed and data trained before; reusing %s",
                        settings["model"]["fusion"], place)
            return stored
        model, history = fit()
        self.save(place, model, history)
        for other in self.folder.iterdir():
            if other != data:
                shutil.rmtree(other, ignore_errors=True)  # another data set's trainings
        return model, history

    def load(self, place: Path) -> Result | None:
        """A stored training, or None when there is none or it cannot be read (then it is
        discarded with a warning and trained again)."""
        if not (place / HISTORY).is_file():
            return None
        try:
            history = json.loads((place / HISTORY).read_text(encoding="utf-8"))
            return load_model(place / WEIGHTS, self.build), history
        except (OSError, ValueError) as error:
            logger.warning("The stored training %s cannot be read (%s: %s); training again",
                           place, type(error).__name__, str(error).splitlines()[0])
            shutil.rmtree(place, ignore_errors=True)
            return None

    @staticmethod
    def save(place: Path, model: nn.Module, history: list[dict]) -> None:
        """The model and its history, written in this process's own scratch folder and then
        renamed: a save cut short leaves nothing to trust, and two processes saving the same
        training (torchrun's ranks) keep whichever renames first."""
        scratch = place.with_name(f"{place.name}.partial-{os.getpid()}")
        save_model(model, scratch / WEIGHTS)
        (scratch / HISTORY).write_text(json.dumps(history), encoding="utf-8")
        try:
            scratch.rename(place)
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)


# Trains one strategy as the registry does, through a store: (inputs, settings, seed, store).
StoredTrainer = Callable[[ModelInputs, dict, int, TrainingStore], Result]
