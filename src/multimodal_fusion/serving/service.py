"""A trained model answering requests: the inference pipeline's steps on one request at a
time, each sample's bytes in a private folder. No Kedro, no MLflow.

The steps are those of `kedro run --pipelines=inference` (validation by the model's own
column rules, features by its recipe, the inference copy of the network), so a served
prediction equals the pipeline's for the same sample. What differs is what a fault
costs: a file the pipeline would quarantine is the client's to fix, so it is refused
with the field and the reason instead of being predicted without that modality.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

import pandas as pd
from torch import nn

from multimodal_fusion.contract.quarantine import PreparationSettings, screened
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.modalities import extraction_faults
from multimodal_fusion.models.predict import for_inference, predict_proba
from multimodal_fusion.models.storage import load_model
from multimodal_fusion.serving.inference import (
    inference_batch,
    predictions_table,
    recipe_features,
    recipe_of,
    recipe_rules,
)
from multimodal_fusion.serving.requests import (
    RequestError,
    ServingSettings,
    request_manifest,
    serving_settings,
)
from multimodal_fusion.training.strategies import build_model

# The features of one request are never cached, and its few files are decoded here.
EXTRACTION = {"cache": None, "workers": 1}


def service_settings(preparation: dict, serving: dict, seed: int) -> dict:
    """What a served model keeps beside its weights: validation as the run had it, with the
    serving limits on files, and the seed."""
    checked = serving_settings(serving)
    limits = preparation["limits"] | {"max_image_pixels": checked.max_image_pixels,
                                      "max_audio_seconds": checked.max_audio_seconds}
    return {"data_preparation": preparation | {"limits": limits}, "serving": serving,
            "seed": seed}


class FusionService:
    """A stored model and its serving settings, ready to answer requests."""

    def __init__(self, model: nn.Module, settings: dict) -> None:
        self.spec = model.spec
        self.recipe = recipe_of(model.spec, "the served model")
        self.rules = recipe_rules(self.recipe)
        self.network = for_inference(model)
        self.preparation = typed_settings(PreparationSettings, settings["data_preparation"],
                                          "data_preparation")
        self.limits: ServingSettings = serving_settings(settings["serving"])
        self.seed = settings["seed"]
        self.lock = threading.Lock()

    @classmethod
    def from_files(cls, weights: Path, settings: Path) -> FusionService:
        """The service of a model saved by `train` and the settings saved beside it."""
        return cls(load_model(weights, build_model),
                   json.loads(settings.read_text(encoding="utf-8")))

    def predict(self, request: pd.DataFrame) -> pd.DataFrame:
        """Per sample: its id, the predicted label, a probability per class and the
        modalities the prediction used; a RequestError naming the field otherwise.

        One request computes at a time: MLflow's server calls this from several threads,
        and MiniLM's fast tokenizer must not be called from two at once (tokenizers'
        "Already borrowed" error). Torch spreads one request over the cores, and
        `mlflow models serve --workers N` runs N processes for more.
        """
        with self.lock, tempfile.TemporaryDirectory(
                prefix="multimodal-fusion-request-") as folder:
            manifest = request_manifest(request, self.rules, Path(folder), self.limits)
            table = self.predictions(manifest)
        return pd.DataFrame({
            "sample_id": table["sample_id"],
            "predicted": table["predicted"],
            "probabilities": [dict(zip(self.spec["classes"], row, strict=True)) for row in
                              table[[f"probability_{c}" for c in self.spec["classes"]]]
                              .to_numpy().tolist()],
            "modalities": [used.split("+") if used else [] for used in table["modalities"]],
        })

    def predictions(self, manifest: pd.DataFrame) -> pd.DataFrame:
        """The inference pipeline's predictions table for a manifest of good samples."""
        screening = screened(manifest, self.preparation, self.rules, labelled=False)
        refuse_faults(screening.report(), manifest)
        usable = screening.manifest.loc[screening.kept()]
        features = recipe_features(usable, self.recipe, EXTRACTION, self.seed)
        refuse_faults(pd.DataFrame(extraction_faults(usable, features)), manifest)
        batch = inference_batch(usable, features, self.spec)
        return predictions_table(usable, predict_proba(self.network, batch), batch, self.spec)


def refuse_faults(report: pd.DataFrame, manifest: pd.DataFrame) -> None:
    """A RequestError listing every fault of the request by row and field, if any; the
    request's private folder is left out of the reasons."""
    if report.empty:
        return
    folder = str(Path(manifest.attrs["source"]).parent) + "/"
    lines = [f"row {fault.row} (sample_id {fault.sample_id!r})"
             f"{f', field {fault.column!r}' if fault.column else ''}: "
             # the limits a served model applies are the serving settings'
             + str(fault.reason).replace(folder, "").replace("data_preparation.limits.",
                                                               "serving.")
             for fault in report.itertuples()]
    raise RequestError("; ".join(lines) + ". Fix: send a readable file within the server's "
                       "limits for that field, or leave it empty to predict without it")
