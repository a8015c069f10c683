"""Nodes of the `evaluate` pipeline."""

from __future__ import annotations

import logging

import pandas as pd
from torch import nn

from multimodal_fusion.models.inputs import ModelInputs, assemble_model_inputs
from multimodal_fusion.runs.record import changed_files, data_fingerprint
from multimodal_fusion.serving.inference import recipe_features, recipe_of

logger = logging.getLogger(__name__)


class DataChangedError(ValueError):
    """The data under a stored model is not what it was trained and tested on, or cannot be
    shown to be (a model with no run record of its own)."""


def check_data_unchanged(split: pd.DataFrame, record: dict, run: dict, extraction: dict
                         ) -> pd.DataFrame:
    """The model's own split, once its data is shown to be what the model's run saw."""
    version = run["read_version"]
    if record.get("run_id") != version:
        raise DataChangedError(
            f"fusion_model {version} has no run record of its own (models saved before run "
            "records existed have none), so its data cannot be checked; train it again")
    now = data_fingerprint(split, extraction["cache"])
    if now != record["data_fingerprint"]:
        hints = changed_files(split, version)
        raise DataChangedError(
            f"The data behind fusion_model {version} changed since that run: its fingerprint "
            f"was {record['data_fingerprint'][:12]}, it is {now[:12]} now"
            + (f"; changed or missing since: {', '.join(hints)}" if hints else "")
            + ". Restore the data to re-evaluate this model, or train a new one")
    return split


def rebuild_model_inputs(split: pd.DataFrame, model: nn.Module, extraction: dict,
                         seed: int) -> ModelInputs:
    """The model's inputs on its own split, made with the recipe the model keeps."""
    recipe = recipe_of(model.spec, "the fusion_model version loaded")
    return assemble_model_inputs(split, recipe_features(split, recipe, extraction, seed))


def compare_with_stored(reevaluated: dict, stored: dict) -> dict:
    """Whether every stored figure came out again, and any that did not."""
    differences = {key: {"stored": stored.get(key), "now": reevaluated.get(key)}
                   for key in sorted(set(stored) | set(reevaluated))
                   if stored.get(key) != reevaluated.get(key)}
    if differences:
        logger.warning("The stored metrics were not reproduced: %s differ",
                       ", ".join(differences))
    else:
        logger.info("Every stored metric reproduced exactly (test accuracy %.4f)",
                    stored["accuracy"])
    return {"reproduced": not differences, "differences": differences}
