"""The data contract: read a manifest of samples and split it. No Kedro.

Validation, with its quarantine of bad rows and files, is `quarantine`'s.

A manifest's index is the sample's row number in the file (1-based, header excluded), kept
through every later step so that any error can point the user back at the row to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

CONTRACT_COLUMNS = ("sample_id", "label", "split")
SPLITS = ("train", "val", "test")
# Train, val and test each need a sample of every class for a stratified split.
MIN_CLASS_SAMPLES = 3

logger = logging.getLogger(__name__)


class ManifestError(ValueError):
    """A manifest the pipeline cannot use; the message names the row and the fix."""


def describe_row(manifest: pd.DataFrame, row: int) -> str:
    """'manifest.csv row 7 (sample_id 'a1')': where a user looks to fix something."""
    source = Path(manifest.attrs.get("source", "manifest")).name
    return f"{source} row {row} (sample_id {manifest.at[row, 'sample_id']!r})"


# The manifest formats read, by extension; the delimited ones are decoded cell by cell.
FORMATS = {".csv": "CSV table", ".tsv": "TSV table", ".tab": "TSV table",
           ".parquet": "Parquet table", ".jsonl": "JSON Lines table",
           ".xlsx": "Excel workbook"}
DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
# What to check when a manifest of each format cannot be parsed.
REPAIRS = {
    "CSV table": "Check that every row has as many cells as the header and that cells "
                 "holding commas are quoted",
    "TSV table": "Check that every row has as many cells as the header, separated by tabs",
    "Parquet table": "Write the Parquet file again",
    "JSON Lines table": "Check that each line is one JSON object, {\"sample_id\": ...}",
    "Excel workbook": "Save it again as an .xlsx workbook, the manifest on its first sheet",
}


def text_cells(column: pd.Series) -> pd.Series:
    """A column's cells as the pipeline reads them, whoever wrote them (a file or a request):
    strings without surrounding blanks, empty for a missing cell."""
    return column.fillna("").astype(str).str.strip()


def read_manifest(path: str | Path, encoding: str, text_columns: Sequence[str]) -> pd.DataFrame:
    """Read a manifest (`FORMATS`); the contract columns and `text_columns` (the modality
    registry's `manifest_columns()`) become strings, empty meaning missing.

    A CSV or TSV is parsed byte for byte and each cell then decoded with `encoding`, so a
    cell that is not valid text costs that cell, not the run: it is decoded with replacement
    characters and listed in `attrs["undecodable"]` ({column: {row: reason}}) for validation
    to act on. JSON Lines are read in `encoding`; Parquet and Excel (the first sheet) hold
    their own. An empty, header-only or malformed file stops with one message saying so.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ManifestError(f"{path}: a manifest must be a {', '.join(FORMATS)} file")
    try:
        manifest, undecodable = (_read_delimited(path, encoding, DELIMITERS[suffix])
                                 if suffix in DELIMITERS
                                 else (_read_table(path, suffix, encoding), {}))
    except pd.errors.EmptyDataError:
        raise ManifestError(f"{path} is empty: a manifest needs a header row (sample_id, "
                            "label and a column per modality) and a row per sample") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise ManifestError(f"{path} cannot be read as a {FORMATS[suffix]}: "
                            f"{str(error).strip().splitlines()[-1].rstrip('.')}. "
                            f"{REPAIRS[FORMATS[suffix]]}") from None
    if manifest.empty:
        raise ManifestError(f"{path} has a header but no rows: add a row per sample"
                            if suffix in DELIMITERS else f"{path} holds no rows: add a row "
                            "per sample")
    for column in (*CONTRACT_COLUMNS, *text_columns):
        if column in manifest.columns:
            manifest[column] = text_cells(manifest[column])
    manifest.index = pd.RangeIndex(1, len(manifest) + 1, name="row")
    manifest.attrs["source"] = str(path)
    manifest.attrs["undecodable"] = {
        column: {row + 1: reason for row, reason in rows.items()}
        for column, rows in undecodable.items()}
    return manifest


def _read_delimited(path: Path, encoding: str, delimiter: str) -> tuple[pd.DataFrame, dict]:
    """Cells parsed as Latin-1 (one character per byte, so any bytes parse), then decoded."""
    raw = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, na_values=[""],
                      encoding="latin-1")
    columns = [decode_cell(name, encoding)[0].lstrip("\ufeff") for name in raw.columns]
    manifest, undecodable = pd.DataFrame(index=raw.index), {}
    for name, column in zip(columns, raw.columns, strict=True):
        decoded = [decode_cell(cell, encoding) for cell in raw[column]]
        manifest[name] = pd.Series([text for text, _ in decoded], index=raw.index,
                                   dtype=raw[column].dtype)
        bad = {row: reason for row, (_, reason) in zip(raw.index, decoded, strict=True) if reason}
        if bad:
            undecodable[name] = bad
    return manifest, undecodable


def _read_table(path: Path, suffix: str, encoding: str) -> pd.DataFrame:
    """A Parquet, JSON Lines or Excel manifest as pandas reads it, every value as written
    (numbers stay numbers until `text_cells` makes the text columns strings)."""
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False, encoding=encoding)
    if suffix == ".xlsx":
        return pd.read_excel(path, dtype=str, engine="openpyxl")
    return pd.read_parquet(path)


def decode_cell(cell: object, encoding: str) -> tuple[object, str | None]:
    """A cell read as Latin-1 (one character per byte), its bytes decoded with `encoding`;
    with a reason, and replacement characters, where they are not valid in it."""
    if not isinstance(cell, str) or cell.isascii():
        return cell, None
    data = cell.encode("latin-1")
    try:
        return data.decode(encoding), None
    except UnicodeDecodeError as error:
        bad = data[error.start:error.end].hex(" ")
        return data.decode(encoding, errors="replace"), (
            f"byte {bad} at position {error.start} is not valid {encoding} text")


def split_is_given(manifest: pd.DataFrame) -> bool:
    """Whether every row names its split, so none is drawn."""
    return "split" in manifest.columns and bool((manifest["split"] != "").all())


def assign_splits(manifest: pd.DataFrame, test_size: float, val_size: float,
                  seed: int, firsts: pd.Series | None = None) -> pd.DataFrame:
    """Keep a complete `split` column as given; otherwise draw a stratified train/val/test split.

    Validation sets aside classes too small to stratify; should a split still be too small
    to hold every class (few samples, many classes), it is drawn without stratification,
    with a warning saying why. `firsts` gives each row's first copy (`copies.first_copies`):
    the split is drawn over first copies, and every copy goes where its first went, so no
    sample is on both sides of it, unless a class would then have too few distinct samples
    to be in every split (a warning says which). Without copies the split is the same as
    without `firsts`.
    """
    if split_is_given(manifest):
        return manifest
    if not 0 < test_size < 1 or not 0 < val_size < 1 or test_size + val_size >= 1:
        raise ManifestError(
            f"test_size ({test_size}) and val_size ({val_size}) must be fractions summing below 1"
        )
    originals = None if firsts is None else manifest.loc[firsts.unique()]
    if originals is None or not _copies_can_stay_together(manifest, originals):
        return _stratified_if_possible(manifest, test_size, val_size, seed)
    drawn = _stratified_if_possible(originals, test_size, val_size, seed)
    return manifest.assign(split=drawn["split"].loc[firsts.to_numpy()].to_numpy())


def _copies_can_stay_together(manifest: pd.DataFrame, originals: pd.DataFrame) -> bool:
    """Whether every class keeps enough distinct samples (`originals`, the first of each
    sample's copies) for train, val and test once its copies go together; if not, say which
    class does not."""
    distinct = originals["label"].value_counts()
    thin = {label: int(distinct.get(label, 0)) for label in manifest["label"].unique()
            if distinct.get(label, 0) < MIN_CLASS_SAMPLES}
    if thin:
        logger.warning(
            "Copies of one sample cannot all be kept on one side of the split: %s, under the "
            "%d a split needs, so the split is drawn over rows and copies may straddle it.",
            ", ".join(f"class {label!r} has {count} distinct sample(s)"
                      for label, count in thin.items()), MIN_CLASS_SAMPLES)
    return not thin


def _stratified_if_possible(manifest: pd.DataFrame, test_size: float, val_size: float,
                            seed: int) -> pd.DataFrame:
    """The split drawn stratified by label, or without stratification where it cannot be."""
    if manifest["label"].value_counts().min() >= MIN_CLASS_SAMPLES:
        try:
            return _draw_split(manifest, test_size, val_size, seed, stratified=True)
        except ValueError as error:
            reason = str(error)
    else:
        reason = f"some class has fewer than {MIN_CLASS_SAMPLES} samples"
    logger.warning("Splitting without stratification: %s", reason)
    return _draw_split(manifest, test_size, val_size, seed, stratified=False)


def _draw_split(manifest: pd.DataFrame, test_size: float, val_size: float, seed: int,
                stratified: bool) -> pd.DataFrame:
    labels = manifest["label"]
    rest, test = train_test_split(manifest.index, test_size=test_size, random_state=seed,
                                  stratify=labels if stratified else None)
    train, val = train_test_split(rest, test_size=val_size / (1 - test_size), random_state=seed,
                                  stratify=labels.loc[rest] if stratified else None)
    split = pd.Series("train", index=manifest.index)
    split.loc[val] = "val"
    split.loc[test] = "test"
    return manifest.assign(split=split)
