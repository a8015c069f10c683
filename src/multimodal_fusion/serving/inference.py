"""Put a trained model to use on new samples, with exactly what was fitted for it. No Kedro.

A model trained by `train` keeps, in its spec, the recipe of its inputs: for each modality
it reads, the preprocessing and feature settings of that run and what that modality
fitted on the training split (a TF-IDF vocabulary, tabular statistics). New samples go
through the modality's own steps with that recipe, never with today's parameters, so a
prediction does not change when the parameters files do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from multimodal_fusion.contract.quarantine import ColumnRule
from multimodal_fusion.modalities import column_rules, modality, registered
from multimodal_fusion.modalities.common import FeatureTable, run_steps
from multimodal_fusion.models.inputs import Batch

RECIPE = "features"


class NoRecipeError(ValueError):
    """A model saved without the recipe of its inputs cannot be applied to new data."""


def feature_recipe(settings: dict[str, dict], fitted: dict[str, dict],
                   modalities: list[str]) -> dict[str, dict]:
    """Per modality the model reads: its parameter groups and what it fitted, as JSON."""
    return {name: {**settings[name], **({"fitted": fitted[name]} if name in fitted else {})}
            for name in sorted(modalities)}


def recipe_of(spec: dict, source: str) -> dict[str, dict]:
    """The model's recipe, as complete as today's parameters (`Modality.recipe_as_saved`),
    or an error saying how to get a model that has one."""
    if RECIPE not in spec:
        raise NoRecipeError(f"{source} was saved without the recipe of its inputs (models of "
                            "`train` keep one since inference exists); train it again with "
                            "`kedro run --pipelines=train`")
    return {name: modality(name).recipe_as_saved(parts) for name, parts in spec[RECIPE].items()}


def recipe_rules(recipe: dict[str, dict]) -> list[ColumnRule]:
    """Validation's rules for the columns of the modalities the model reads, as it read them."""
    return column_rules({name: parts.get("preprocessing") for name, parts in recipe.items()})


def recipe_features(manifest: pd.DataFrame, recipe: dict[str, dict], extraction: dict,
                    seed: int) -> dict[str, FeatureTable]:
    """Each recorded modality's feature table for these samples, by its own steps.

    A step that fits (on a training split) is not run: what it fitted comes from the
    recipe instead. A column the model reads that the manifest lacks is missing for every
    sample.
    """
    lacking = [c for c in ("split", *(rule.column for rule in recipe_rules(recipe)))
               if c not in manifest.columns]
    manifest = manifest.assign(**dict.fromkeys(lacking, ""))
    shared = {"manifest": manifest, "extraction": extraction, "seed": seed}
    return {name: run_steps(modality(name), shared | {
        "preprocessing": parts.get("preprocessing"), "features": parts.get("features"),
        **({"fitted": parts["fitted"]} if "fitted" in parts else {})})["table"]
        for name, parts in recipe.items()}


def inference_batch(manifest: pd.DataFrame, tables: dict[str, FeatureTable],
                    spec: dict) -> Batch:
    """The samples as tensors for the model; a modality no sample has is all absent."""
    inputs, present = {}, {}
    for name, shape in ((m, spec["modalities"][m]["input_shape"]) for m in spec["modalities"]):
        table = tables[name]
        if list(table["values"].shape[1:]) != shape and table["present"].any():
            raise ValueError(f"{name} features of shape {list(table['values'].shape[1:])} do "
                             f"not fit the model, which reads {shape}")
        values = table["values"] if table["present"].any() else np.zeros(
            (len(manifest), *shape), dtype=np.float32)
        inputs[name] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        present[name] = torch.from_numpy(table["present"].astype(bool))
    return Batch(inputs, present, None)


def predictions_table(manifest: pd.DataFrame, probabilities: np.ndarray, batch: Batch,
                      spec: dict) -> pd.DataFrame:
    """sample_id, the predicted class, a probability per class, the modalities each
    prediction used, then the manifest's own extra columns."""
    classes = spec["classes"]
    recipe = spec[RECIPE]
    inputs = {c for m in registered()
              for c in m.columns(recipe.get(m.name, {}).get("preprocessing"))}
    table = pd.DataFrame({
        "sample_id": manifest["sample_id"].to_numpy(),
        "predicted": [classes[i] for i in probabilities.argmax(axis=1)],
        **{f"probability_{name}": probabilities[:, i] for i, name in enumerate(classes)},
        "modalities": batch.modalities_per_sample(),
    })
    extra = [c for c in manifest.columns if c not in inputs and c not in table.columns]
    return pd.concat([table, manifest[extra].reset_index(drop=True)], axis=1)
