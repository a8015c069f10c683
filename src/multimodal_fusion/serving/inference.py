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

from multimodal_fusion.modalities import manifest_columns, modality
from multimodal_fusion.modalities.common import FeatureTable
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
    """The model's recipe, or an error saying how to get a model that has one."""
    if RECIPE not in spec:
        raise NoRecipeError(f"{source} was saved without the recipe of its inputs (models of "
                            "`train` keep one since inference exists); train it again with "
                            "`kedro run --pipeline=train`")
    return spec[RECIPE]


def tabular_columns(recipe: dict[str, dict]) -> dict:
    """The tabular columns the model reads, as `tabular.preprocessing` names them."""
    return recipe.get("tabular", {}).get("preprocessing", {})


def recipe_features(manifest: pd.DataFrame, recipe: dict[str, dict], cache: str | None,
                    workers: int | str | None, seed: int) -> dict[str, FeatureTable]:
    """Each recorded modality's feature table for these samples, by its own steps.

    A step that fits (on a training split) is not run: what it fitted comes from the
    recipe instead. A tabular column the manifest lacks is missing for every sample.
    """
    named = [*tabular_columns(recipe).get("numeric", []),
             *tabular_columns(recipe).get("categorical", [])]
    manifest = manifest.assign(**{c: "" for c in ("split", *named) if c not in manifest.columns})
    tables = {}
    for name, parts in recipe.items():
        known = {"manifest": manifest, "params:preprocessing": parts.get("preprocessing"),
                 "params:features": parts.get("features"), "cache": cache,
                 "workers": workers, "seed": seed}
        if "fitted" in parts:
            known["fitted"] = parts["fitted"]
        for step in modality(name).steps:
            if step.writes not in known:
                known[step.writes] = step.function(*(known[read] for read in step.reads))
        tables[name] = known["features"]
    return tables


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
    inputs = {*manifest_columns(), *tabular_columns(spec[RECIPE]).get("numeric", []),
              *tabular_columns(spec[RECIPE]).get("categorical", [])}
    table = pd.DataFrame({
        "sample_id": manifest["sample_id"].to_numpy(),
        "predicted": [classes[i] for i in probabilities.argmax(axis=1)],
        **{f"probability_{name}": probabilities[:, i] for i, name in enumerate(classes)},
        "modalities": batch.modalities_per_sample(),
    })
    extra = [c for c in manifest.columns if c not in inputs and c not in table.columns]
    return pd.concat([table, manifest[extra].reset_index(drop=True)], axis=1)
