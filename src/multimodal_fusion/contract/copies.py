"""Samples that are copies of one another: the same cells and the same file contents in
every column the modalities read. No Kedro.

A copy on both sides of the split makes the test score measure recall rather than
generalisation, and copies carrying different labels show the model one input with two
answers. Real collections hold both (a photo saved twice, a row pasted twice), and neither
is visible from the file names.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from multimodal_fusion.contract.quarantine import ColumnRule
from multimodal_fusion.core.digests import file_digests

logger = logging.getLogger(__name__)
SHOWN = 3  # examples a warning names


def first_copies(manifest: pd.DataFrame, rules: Sequence[ColumnRule],
                 cache: str | Path | None) -> pd.Series:
    """Per row, the first row of the same sample (itself when it has no earlier copy): equal
    cells, and files of equal bytes (their digests remembered in the `cache` folder)."""
    contents = []
    for column, holds_files in dict.fromkeys((rule.column, rule.check_file is not None)
                                             for rule in rules if rule.column in manifest):
        cells = manifest[column].fillna("").astype(str)
        if holds_files:
            named = cells[cells != ""]
            cells = pd.Series("", index=manifest.index)
            cells.loc[named.index] = [digest.hex() for digest in file_digests(
                named.tolist(), cache, f"copies: {column} files")]
        contents.append(cells)
    first: dict[tuple, int] = {}
    return pd.Series([first.setdefault(sample, row) for row, sample in zip(
        manifest.index, zip(*contents, strict=True), strict=True)], index=manifest.index)


def copy_groups(firsts: pd.Series) -> list[pd.Index]:
    """The rows of each sample held more than once (grouping those alone: a large set holds
    a hundred thousand samples and few copies)."""
    repeated = firsts[firsts.duplicated(keep=False)]
    return [rows.index for _, rows in repeated.groupby(repeated, sort=True)]


def warn_of_copies(manifest: pd.DataFrame, firsts: pd.Series) -> None:
    """Copies with different labels, and (with the split) copies in two splits."""
    groups = copy_groups(firsts)
    conflicting = [rows for rows in groups if manifest.loc[rows, "label"].nunique() > 1]
    if conflicting:
        logger.warning(
            "%d sample(s) held more than once carry different labels (%s): the model is shown "
            "one input with two answers. Correct the labels, or keep one copy.",
            len(conflicting), described(manifest, conflicting))
    if "split" not in manifest:
        return
    straddling = [rows for rows in groups if manifest.loc[rows, "split"].nunique() > 1]
    if straddling:
        logger.warning(
            "%d sample(s) held more than once sit in more than one split (%s): a copy in "
            "val or test of one in train makes its score measure recall, not "
            "generalisation. Give the copies one split, or keep one copy.",
            len(straddling), described(manifest, straddling))


def described(manifest: pd.DataFrame, groups: list[pd.Index]) -> str:
    """'rows 3 (cat, train), 9 (dog, test); rows ...': where the first `SHOWN` groups of
    copies are and what they say."""
    shown = [column for column in ("label", "split") if column in manifest]
    return "; ".join("rows " + ", ".join(
        f"{row} ({', '.join(str(manifest.at[row, column]) for column in shown)})"
        for row in rows) for rows in groups[:SHOWN])
