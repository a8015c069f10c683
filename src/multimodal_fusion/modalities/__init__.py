"""Per-modality loading, preprocessing and feature extraction. No Kedro.

Every extractor returns a feature table: a dict of arrays with `sample_id`, `values` (one
row per sample, zeros where the modality is missing), `present` (a boolean mask), in the
manifest's row order, `encoder` (the name of the model encoder these values are made for,
so the features parameters alone decide how a modality is encoded) and `encoder_options`.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from multimodal_fusion.manifest import describe_row

FeatureTable = dict[str, np.ndarray]
# Bump when the keys of a feature table change, so no cached table of the old layout is reused.
TABLE_LAYOUT = "2"


def modality_cells(manifest: pd.DataFrame, column: str) -> pd.Series:
    """A modality's cells; a manifest without that column has it missing everywhere."""
    if column in manifest.columns:
        return manifest[column]
    return pd.Series("", index=manifest.index)


class ModalityFileError(ValueError):
    """An input file that exists but cannot be read; the message names the row and the fix."""


def feature_table(manifest: pd.DataFrame, values: np.ndarray, present: np.ndarray,
                  encoder: str, encoder_options: dict | None = None) -> FeatureTable:
    """Bundle per-sample values with the ids, presence mask and encoder that travel with them.

    `encoder_options` (JSON) tells the encoder what the values alone cannot, such as the
    vocabulary size behind token ids.
    """
    return {
        "sample_id": manifest["sample_id"].to_numpy(dtype=str),
        "values": values,
        "present": present.astype(bool),
        "encoder": np.array(encoder),
        "encoder_options": np.array(json.dumps(encoder_options or {}, sort_keys=True)),
    }


def extract_per_file(manifest: pd.DataFrame, column: str, extract: Callable[[str], np.ndarray],
                     shape: tuple[int, ...], encoder: str,
                     encoder_options: dict | None = None) -> FeatureTable:
    """Run `extract` on every non-empty cell of `column`, zeros elsewhere, with a progress bar.

    A file that fails is reported with its row, so one bad file is easy to find and fix.
    """
    cells = modality_cells(manifest, column)
    present = (cells != "").to_numpy()
    values = np.zeros((len(manifest), *shape), dtype=np.float32)
    positions = np.flatnonzero(present)
    for position in tqdm(positions, desc=f"{column} files", unit="file", leave=False,
                         disable=None):
        row, path = cells.index[position], cells.iloc[position]
        try:
            values[position] = extract(path)
        except Exception as error:
            raise ModalityFileError(
                f"{describe_row(manifest, row)}: cannot read {column} file {path} ({error}). "
                f"Replace the file or empty the cell to mark the {column} as missing"
            ) from error
    return feature_table(manifest, values, present, encoder, encoder_options)


def extract_in_batches(manifest: pd.DataFrame, column: str,
                       extract: Callable[[list[str]], np.ndarray], width: int, batch_size: int,
                       encoder: str) -> FeatureTable:
    """Like `extract_per_file`, for extractors that work best on a batch of files at once.

    A failing batch is retried file by file, so the error still names the bad file's row.
    """
    cells = modality_cells(manifest, column)
    present = (cells != "").to_numpy()
    values = np.zeros((len(manifest), width), dtype=np.float32)
    positions = np.flatnonzero(present)
    batches = [positions[i:i + batch_size] for i in range(0, len(positions), batch_size)]
    for batch in tqdm(batches, desc=f"{column} batches", unit="batch", leave=False,
                      disable=None):
        try:
            values[batch] = extract(cells.iloc[batch].tolist())
        except Exception:
            single = extract_per_file(manifest.iloc[batch], column,
                                      lambda path: extract([path])[0], (width,), encoder)
            values[batch] = single["values"]
    return feature_table(manifest, values, present, encoder)
