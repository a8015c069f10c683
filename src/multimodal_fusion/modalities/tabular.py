"""Tabular: manifest columns of numbers and categories that the parameters name. No Kedro.

Numbers: a missing cell is imputed with the training median, every value standardised with
the training mean and spread, and a flag per column says the value was missing. Categories:
one-hot over the levels seen at least `min_count` times in training (the `max_levels` most
frequent), plus one slot for any other level; a missing cell sets no slot. All of it is
fitted on the training split only and kept as JSON beside the model.

A missing cell is a missing value, not a missing modality; a sample whose named columns are
all empty lacks the modality, and with no column named the modality is absent.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from multimodal_fusion.contract.manifest import CONTRACT_COLUMNS, describe_row
from multimodal_fusion.contract.quarantine import ColumnRule
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.modalities import manifest_columns
from multimodal_fusion.modalities.common import (
    FeatureTable,
    Modality,
    Step,
    absent_table,
    feature_table,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TabularColumns:
    """Which manifest columns are tabular features; see parameters_features.yml."""

    numeric: tuple[str, ...] | list[str]
    categorical: tuple[str, ...] | list[str]


@dataclass(frozen=True)
class TabularFeatures:
    """How categories are encoded; see parameters_features.yml."""

    max_levels: int
    min_count: int


def check_columns(manifest: pd.DataFrame, columns: TabularColumns) -> None:
    """Refuse a named column the manifest lacks, one named twice, or one the contract owns."""
    named = [*columns.numeric, *columns.categorical]
    reserved = sorted(set(named) & {*CONTRACT_COLUMNS, *manifest_columns()})
    twice = sorted({c for c in named if named.count(c) > 1})
    lacking = [c for c in named if c not in manifest.columns]
    source = manifest.attrs.get("source", "the manifest")
    if reserved or twice:
        raise ValueError(f"tabular.preprocessing names {', '.join(reserved + twice)} "
                         f"{'as a feature' if reserved else 'twice'}; name each column of "
                         "your own features once, and none of the manifest's contract columns")
    if lacking:
        raise ValueError(f"tabular.preprocessing names {', '.join(lacking)}, but {source} has "
                         f"no such column (it has {', '.join(map(str, manifest.columns))}); "
                         "fix the name or remove it from the list")


def as_numbers(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The cells as floats (NaN where empty or not a number) and which were not numbers."""
    text = cells.astype("string").str.strip()
    empty = cells.isna() | (text == "")
    numbers = pd.to_numeric(text.mask(empty), errors="coerce").astype(float)
    return numbers, ~empty & ~np.isfinite(numbers)


def parse_numbers(manifest: pd.DataFrame, column: str) -> np.ndarray:
    """The column as floats, NaN where empty; a cell that is not a number names its row."""
    numbers, bad = as_numbers(manifest[column])
    if bad.any():
        row = bad.index[bad.to_numpy()][0]
        raise ValueError(f"{describe_row(manifest, row)}: tabular column {column} holds "
                         f"{manifest.at[row, column]!r}, not a number; fix it, or empty the "
                         "cell to mark the value as missing")
    return numbers.to_numpy()


def select_columns(manifest: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Each sample's id, split and named columns: numbers as floats (NaN missing), categories
    as text ('' missing)."""
    columns = typed_settings(TabularColumns, settings, "tabular.preprocessing")
    check_columns(manifest, columns)
    selected = {"sample_id": manifest["sample_id"], "split": manifest["split"]}
    selected |= {c: parse_numbers(manifest, c) for c in columns.numeric}
    selected |= {c: manifest[c].fillna("").astype(str).str.strip() for c in columns.categorical}
    return pd.DataFrame(selected, index=manifest.index)


def present_rows(columns: pd.DataFrame, state: dict) -> np.ndarray:
    """Samples with at least one named value."""
    filled = [columns[c].notna().to_numpy() for c in state["numeric"]]
    filled += [(columns[c] != "").to_numpy() for c in state["categorical"]]
    return np.any(filled, axis=0) if filled else np.zeros(len(columns), dtype=bool)


def fit_statistics(columns: pd.DataFrame, settings: dict, preprocessing: dict) -> dict:
    """Medians, means, spreads and category levels of the training split, as JSON data."""
    chosen = typed_settings(TabularColumns, preprocessing, "tabular.preprocessing")
    features = typed_settings(TabularFeatures, settings, "tabular.features")
    train = columns[columns["split"] == "train"]
    state = {"settings": asdict(features), "numeric": {}, "categorical": {}}
    for column in chosen.numeric:
        values = train[column].dropna().to_numpy()
        if values.size == 0:
            values = np.zeros(1)
        state["numeric"][column] = {"median": float(np.median(values)),
                                    "mean": float(values.mean()),
                                    "std": float(values.std()) or 1.0}
    for column in chosen.categorical:
        counts = train[column][train[column] != ""].value_counts()
        kept = counts[counts >= features.min_count]
        state["categorical"][column] = sorted(
            kept.sort_values(ascending=False, kind="stable").index[:features.max_levels])
    if not present_rows(train, state).any():
        logger.info("No training sample has tabular values: the modality is absent")
        state["absent"] = True
    return state


def tabular_vectors(columns: pd.DataFrame, state: dict) -> FeatureTable:
    """Standardised numbers with their missing flags, then one-hot categories, per sample."""
    if state.get("absent"):
        return absent_table(columns, "tabular")
    blocks = []
    for column, stats in state["numeric"].items():
        values = columns[column].to_numpy(dtype=float)
        missing = np.isnan(values)
        filled = np.where(missing, stats["median"], values)
        blocks += [(filled - stats["mean"]) / stats["std"], missing.astype(float)]
    for column, levels in state["categorical"].items():
        cells = columns[column].to_numpy(dtype=str)
        slots = {level: i for i, level in enumerate(levels)}
        one_hot = np.zeros((len(cells), len(levels) + 1))
        for row, cell in enumerate(cells):
            if cell:
                one_hot[row, slots.get(cell, len(levels))] = 1.0
        blocks += list(one_hot.T)
    present = present_rows(columns, state)
    values = np.stack(blocks, axis=1).astype(np.float32) * present[:, np.newaxis]
    return feature_table(columns, values, present, "mlp")


def not_a_number(cell: object) -> str | None:
    """Why a tabular number's cell cannot be used, or None (an empty cell is a missing value)."""
    _, bad = as_numbers(pd.Series([cell]))
    return f"{cell!r} is not a number" if bad.iloc[0] else None


def column_rules(settings: dict | None) -> list[ColumnRule]:
    """Validation's rules for the named columns: a number that is not one becomes a missing
    value; any category is a category."""
    columns = typed_settings(TabularColumns, settings, "tabular.preprocessing")
    return [*(ColumnRule(c, "tabular", check_cell=not_a_number, emptied="value emptied")
              for c in columns.numeric),
            *(ColumnRule(c, "tabular", emptied="value emptied") for c in columns.categorical)]


MODALITY = Modality(
    name="tabular",
    steps=(
        Step(select_columns, ("manifest", "preprocessing"), "columns", "select_columns"),
        Step(fit_statistics, ("columns", "features", "preprocessing"), "fitted",
             "fit_statistics"),
        Step(tabular_vectors, ("columns", "fitted"), "table", "tabular_vectors"),
    ),
    encoders=("mlp",),
    named_columns=column_rules,
)
