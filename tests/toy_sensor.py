"""A toy tabular-like modality for the tests: sensor readings in manifest columns that its
parameters name, standardised with the training split's statistics. It is what a user adds
to register a modality of their own: this module, its line in `modalities.MODALITIES` and
its parameters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from multimodal_fusion.contract.quarantine import ColumnRule
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.modalities.common import FeatureTable, Modality, Step, feature_table


@dataclass(frozen=True)
class SensorColumns:
    columns: list[str]


def not_a_reading(cell: object) -> str | None:
    text = str(cell).strip()
    return None if not text or text.replace(".", "", 1).lstrip("-").isdigit() else (
        f"{cell!r} is not a reading")


def rules(settings: dict) -> list[ColumnRule]:
    columns = typed_settings(SensorColumns, settings, "sensor.preprocessing").columns
    return [ColumnRule(c, "sensor", check_cell=not_a_reading, emptied="reading emptied")
            for c in columns]


def select_readings(manifest: pd.DataFrame, settings: dict) -> pd.DataFrame:
    columns = typed_settings(SensorColumns, settings, "sensor.preprocessing").columns
    readings = manifest[columns].replace("", np.nan).astype(float)
    return pd.concat([manifest[["sample_id", "split"]], readings], axis=1)


def fit_scale(readings: pd.DataFrame, settings: dict) -> dict:
    train = readings[readings["split"] == "train"].drop(columns=["sample_id", "split"])
    return {"mean": train.mean().fillna(0).tolist(), "std": train.std().fillna(1).tolist()}


def sensor_vectors(readings: pd.DataFrame, fitted: dict) -> FeatureTable:
    values = readings.drop(columns=["sample_id", "split"]).to_numpy(dtype=np.float32)
    present = ~np.isnan(values).all(axis=1)
    scaled = (np.nan_to_num(values - fitted["mean"]) / fitted["std"]).astype(np.float32)
    return feature_table(readings, scaled, present, "mlp")


MODALITY = Modality(
    name="sensor",
    steps=(
        Step(select_readings, ("manifest", "preprocessing"), "readings", "select_readings"),
        Step(fit_scale, ("readings", "features"), "fitted", "fit_scale"),
        Step(sensor_vectors, ("readings", "fitted"), "table", "sensor_vectors"),
    ),
    encoders=("mlp",),
    named_columns=rules,
)
