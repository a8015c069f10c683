"""The data contract: read, resolve, validate and split a manifest of labelled samples. No Kedro.

A manifest's index is the sample's row number in the file (1-based, header excluded), kept
through every later step so that any error can point the user back at the row to fix.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from multimodal_fusion.modalities import file_columns, manifest_columns

CONTRACT_COLUMNS = ("sample_id", "label", "split")
SPLITS = ("train", "val", "test")

logger = logging.getLogger(__name__)


class ManifestError(ValueError):
    """A manifest the pipeline cannot use; the message names the row and the fix."""


def describe_row(manifest: pd.DataFrame, row: int) -> str:
    """'manifest.csv row 7 (sample_id 'a1')': where a user looks to fix something."""
    source = Path(manifest.attrs.get("source", "manifest")).name
    return f"{source} row {row} (sample_id {manifest.at[row, 'sample_id']!r})"


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet manifest; contract columns become strings, empty meaning missing."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        manifest = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        manifest = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    else:
        raise ManifestError(f"{path}: a manifest must be a .csv or .parquet file")
    for column in (*CONTRACT_COLUMNS, *manifest_columns()):
        if column in manifest.columns:
            manifest[column] = manifest[column].fillna("").astype(str).str.strip()
    manifest.index = pd.RangeIndex(1, len(manifest) + 1, name="row")
    manifest.attrs["source"] = str(path)
    return manifest


def resolve_file_paths(manifest: pd.DataFrame, base_dir: str | Path) -> pd.DataFrame:
    """Make image and audio paths absolute, relative ones counting from the manifest's folder."""
    resolved = manifest.copy()
    base_dir = Path(base_dir)
    for column in file_columns():
        if column in resolved.columns:
            resolved[column] = [
                (base_dir / Path(cell).expanduser()).as_posix() if cell else ""
                for cell in resolved[column]
            ]
    return resolved


def validate_manifest(manifest: pd.DataFrame) -> pd.DataFrame:
    """Stop early, naming the row and the fix, on anything that would break training later."""
    source = manifest.attrs.get("source", "the manifest")
    for column in ("sample_id", "label"):
        if column not in manifest.columns:
            raise ManifestError(f"{source} has no '{column}' column; add one (see the README's "
                                "'Your own data')")
    for column in ("sample_id", "label"):
        empty = manifest.index[manifest[column] == ""]
        if len(empty):
            raise ManifestError(f"{describe_row(manifest, empty[0])}: empty {column}; fill it in")
    duplicated = manifest.index[manifest["sample_id"].duplicated()]
    if len(duplicated):
        raise ManifestError(
            f"{describe_row(manifest, duplicated[0])}: sample_id is used by an earlier row; "
            "sample ids must be unique"
        )
    if "split" in manifest.columns:
        bad = manifest.index[~manifest["split"].isin(("", *SPLITS))]
        if len(bad):
            raise ManifestError(
                f"{describe_row(manifest, bad[0])}: split {manifest.at[bad[0], 'split']!r} "
                f"is not one of {', '.join(SPLITS)}; fix it or leave it empty"
            )
    _check_files_exist(manifest)
    return manifest


def _check_files_exist(manifest: pd.DataFrame) -> None:
    """A referenced file that is not there is a broken path, unlike an empty (missing) cell."""
    for column in file_columns():
        if column not in manifest.columns:
            continue
        for row, cell in manifest[column].items():
            if cell and not Path(cell).is_file():
                raise ManifestError(
                    f"{describe_row(manifest, row)}: {column} file {cell} does not exist. "
                    "Fix the path (relative paths count from the manifest's folder) "
                    f"or empty the cell to mark the {column} as missing"
                )


def assign_splits(manifest: pd.DataFrame, test_size: float, val_size: float,
                  seed: int) -> pd.DataFrame:
    """Keep a complete `split` column as given; otherwise draw a stratified train/val/test split."""
    if "split" in manifest.columns and (manifest["split"] != "").all():
        return manifest
    if not 0 < test_size < 1 or not 0 < val_size < 1 or test_size + val_size >= 1:
        raise ManifestError(
            f"test_size ({test_size}) and val_size ({val_size}) must be fractions summing below 1"
        )
    labels = manifest["label"]
    stratify = labels if labels.value_counts().min() >= 3 else None
    if stratify is None:
        logger.warning("Some class has fewer than 3 samples: splitting without stratification")
    rest, test = train_test_split(
        manifest.index, test_size=test_size, random_state=seed, stratify=stratify
    )
    rest_labels = labels.loc[rest] if stratify is not None else None
    train, val = train_test_split(
        rest, test_size=val_size / (1 - test_size), random_state=seed, stratify=rest_labels
    )
    split = pd.Series("train", index=manifest.index)
    split.loc[val] = "val"
    split.loc[test] = "test"
    return manifest.assign(split=split)
