"""What every modality shares: its declaration and steps, feature tables and per-file work.
No Kedro.

Every extractor returns a feature table: a dict of arrays with `sample_id`, `values` (one
row per sample, zeros where the modality is missing), `present` (a boolean mask), in the
manifest's row order, `encoder` (the name of the model encoder these values are made for,
so the features parameters alone decide how a modality is encoded), `encoder_options`, and
`failed` and `failure`: the manifest positions of files that passed validation but failed
in extraction, and why. Such a file costs its sample the modality, never the run; the
run's quarantine report lists it (`failure_rows`). A modality no sample has gives a table
with no values at all (width 0), so an absent column costs no memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from multimodal_fusion.contract.manifest import describe_row
from multimodal_fusion.contract.quarantine import ColumnRule, InputLimits
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.npz import RowStore
from multimodal_fusion.core.parallel import map_in_order, resolve_workers

logger = logging.getLogger(__name__)
FeatureTable = dict[str, np.ndarray]
# Bump when the keys of a feature table change, so no cached table of the old layout is reused.
TABLE_LAYOUT = "4"


@dataclass(frozen=True)
class Step:
    """One step of a modality, and one node of its namespace in the `features` pipeline.

    `reads` and `writes` name data by neutral names: what earlier steps wrote, the
    modality's own parameter groups (`preprocessing`, `features`), and what every modality
    shares: `manifest` (the split manifest), `extraction` (the extraction settings) and
    `seed`. The last step writes `table`, the modality's feature table; a step that writes
    `fitted` (state learnt from the training split) has it kept with the model. The
    pipelines map these names to their datasets; `run_steps` runs the steps without them.
    """

    function: Callable[..., Any]
    reads: tuple[str, ...]
    writes: str
    name: str


@dataclass(frozen=True)
class Modality:
    """A modality as the pipelines, validation, the manifest and the model see it.

    `column` is the manifest column holding it, or None when its parameters name its
    columns (tabular): then `named_columns(preprocessing)` gives validation's rule for each
    of them (none without parameters). `check_file`, for a modality whose cells are paths
    (`holds_files`), decodes one file as its preprocessing will and raises, with the reason,
    on one that cannot be used, so that validation sets it aside before any feature is
    computed. `encoders` are the model encoders its feature tables may name.
    `former_settings` are, per parameter group, the keys added after models were first
    saved, at the value that gives what models saved before them were made with.
    """

    name: str
    steps: tuple[Step, ...]
    encoders: tuple[str, ...]
    column: str | None = None
    named_columns: Callable[[dict], list[ColumnRule]] | None = None
    check_file: Callable[[str, InputLimits], None] | None = None
    former_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def holds_files(self) -> bool:
        """Whether its cells are paths to files."""
        return self.check_file is not None

    @property
    def fits(self) -> bool:
        """Whether a step learns from the training split (writes `fitted`): the model keeps
        what it learnt, so inference reuses it."""
        return any(step.writes == "fitted" for step in self.steps)

    def rules(self, preprocessing: dict | None) -> list[ColumnRule]:
        """How validation treats each manifest column it reads, given its preprocessing
        parameters (which name the columns of a tabular-like modality)."""
        if self.column is None:
            return [] if preprocessing is None else self.named_columns(preprocessing)
        return [ColumnRule(self.column, self.name, check_file=self.check_file)]

    def columns(self, preprocessing: dict | None) -> list[str]:
        """The manifest columns it reads."""
        return [rule.column for rule in self.rules(preprocessing)]

    def recipe_as_saved(self, parts: dict[str, Any]) -> dict[str, Any]:
        """A model's recipe for this modality, its groups completed with the keys added
        since it was saved (`former_settings`), so its features are made as they were then
        while today's parameters must still name every key."""
        return parts | {group: former | parts[group]
                        for group, former in self.former_settings.items()
                        if parts.get(group) is not None}


@dataclass(frozen=True)
class ExtractionSettings:
    """How every modality computes its features: where they are cached (null: not at all)
    and how many worker processes share per-file work; see parameters_features.yml."""

    cache: str | None
    workers: int | str

    @property
    def processes(self) -> int:
        """The worker processes, `auto` resolved to every core this process may use."""
        return resolve_workers(self.workers)


def extraction_settings(values: dict) -> ExtractionSettings:
    """The `extraction` parameters, checked."""
    return typed_settings(ExtractionSettings, values, "extraction")


def run_steps(modality: Modality, given: dict[str, Any]) -> dict[str, Any]:
    """Every step of `modality` whose output is not given yet, in order; all that is known
    then, its feature table as `table`.

    `given` holds what the steps read by their neutral names (see `Step`). Inference gives
    the model's `fitted` state too, so the steps that would fit it on a training split do
    not run.
    """
    known = dict(given)
    for step in modality.steps:
        if step.writes not in known:
            known[step.writes] = step.function(*(known[name] for name in step.reads))
    return known


def modality_cells(manifest: pd.DataFrame, column: str) -> pd.Series:
    """A modality's cells; a manifest without that column has it missing everywhere."""
    if column in manifest.columns:
        return manifest[column]
    return pd.Series("", index=manifest.index)


class Failures:
    """Files that failed in extraction, by manifest position: each is logged as it fails and
    costs its sample the modality; the feature table keeps them for the quarantine report."""

    def __init__(self, manifest: pd.DataFrame, column: str) -> None:
        self.manifest, self.column = manifest, column
        self.positions: list[int] = []
        self.reasons: list[str] = []

    def add(self, position: int, reason: str) -> None:
        cells = modality_cells(self.manifest, self.column)
        logger.warning("%s: the %s file %s failed in extraction (%s); the sample goes on "
                       "without its %s, and the quarantine report lists it",
                       describe_row(self.manifest, cells.index[position]), self.column,
                       cells.iloc[position], reason, self.column)
        self.positions.append(int(position))
        self.reasons.append(reason)

    def successes(self, positions: Sequence[int],
                  results: Iterator[tuple[bool, Any]]) -> Iterator[tuple[int, Any]]:
        """(position, result) of each file that worked, of `map_in_order`'s results for the
        files at these positions; the others are added here."""
        for position, (ok, result) in zip(positions, results, strict=True):
            if ok:
                yield int(position), result
            else:
                self.add(position, str(result).removeprefix("ValueError: "))

    def arrays(self, *earlier: FeatureTable) -> dict[str, np.ndarray]:
        """These failures after those of `earlier` tables (or stores), as a table keeps them."""
        return {"failed": np.array([p for table in earlier for p in table["failed"]]
                                   + self.positions, dtype=np.int64),
                "failure": np.array([r for table in earlier for r in table["failure"]]
                                    + self.reasons, dtype=str)}


def no_failures() -> dict[str, np.ndarray]:
    return {"failed": np.zeros(0, dtype=np.int64), "failure": np.zeros(0, dtype=str)}


def absent_table(manifest: pd.DataFrame, modality: str) -> FeatureTable:
    """The table of a modality no sample has: every sample absent, no values."""
    logger.info("No sample has %s: the modality is absent from this run", modality)
    return feature_table(manifest, np.zeros((len(manifest), 0), dtype=np.float32),
                         np.zeros(len(manifest), dtype=bool), encoder="")


def is_absent(table: FeatureTable) -> bool:
    """Whether no sample has the table's modality."""
    return not table["present"].any()


def feature_table(manifest: pd.DataFrame, values: np.ndarray, present: np.ndarray,
                  encoder: str, encoder_options: dict | None = None,
                  failures: dict[str, np.ndarray] | None = None) -> FeatureTable:
    """Bundle per-sample values with the ids, presence mask and encoder that travel with them.

    `encoder_options` (JSON) tells the encoder what the values alone cannot, such as the
    vocabulary size behind token ids; `failures` (`Failures.arrays`) the files that failed.
    """
    return {
        "sample_id": manifest["sample_id"].to_numpy(dtype=str),
        "values": values,
        "present": present.astype(bool),
        "encoder": np.array(encoder),
        "encoder_options": np.array(json.dumps(encoder_options or {}, sort_keys=True)),
        **(failures or no_failures()),
    }


def for_encoder(table: FeatureTable, values: np.ndarray, encoder: str,
                encoder_options: dict | None = None) -> FeatureTable:
    """A feature table with `table`'s samples, presence and failures, and these values for
    `encoder`."""
    return {
        "sample_id": table["sample_id"],
        "values": values,
        "present": table["present"],
        "encoder": np.array(encoder),
        "encoder_options": np.array(json.dumps(encoder_options or {}, sort_keys=True)),
        "failed": table["failed"],
        "failure": table["failure"],
    }


def failure_rows(manifest: pd.DataFrame, modality: str, column: str,
                 table: FeatureTable) -> list[dict[str, Any]]:
    """The quarantine report's row for each file of the table that failed in extraction."""
    cells = modality_cells(manifest, column)
    return [{"row": cells.index[position], "sample_id": str(manifest["sample_id"].iloc[position]),
             "column": column, "file": cells.iloc[position], "action": f"{modality} dropped",
             "reason": f"failed in extraction: {reason}",
             "fix": f"replace the file, or empty the cell to mark the {column} as missing"}
            for position, reason in zip(table["failed"], table["failure"], strict=True)]


def values_per_file(manifest: pd.DataFrame, present: np.ndarray,
                    items: Sequence[Any], function: Callable[[Any], np.ndarray],
                    shape: tuple[int, ...], workers: int, description: str,
                    failures: Failures) -> tuple[np.ndarray, np.ndarray]:
    """`function` of each item (one per present sample, in order) in one array, zeros where a
    sample lacks the modality, and the presence left once the failures (added to
    `failures`) are taken out. The array is written as the results come, to disk once it
    is large (`RowStore`), so memory holds a few results, not the dataset's."""
    values = RowStore((len(manifest), *shape))
    kept = np.zeros(len(manifest), dtype=bool)
    positions = np.flatnonzero(present)
    for position, result in failures.successes(
            positions, map_in_order(function, items, workers, description)):
        values.put(position, result[np.newaxis])
        kept[position] = True
    return values.result(), kept


def extract_per_file(manifest: pd.DataFrame, column: str, extract: Callable[[str], np.ndarray],
                     shape: tuple[int, ...], workers: int = 1) -> FeatureTable:
    """Run `extract` on every non-empty cell of `column`, zeros elsewhere, with a progress bar.

    A file that fails costs its sample the modality, named in the log and the table.
    The table names no encoder yet: the extraction step that follows chooses it.
    """
    cells = modality_cells(manifest, column)
    present = (cells != "").to_numpy()
    if not present.any():
        return absent_table(manifest, column)
    failures = Failures(manifest, column)
    values, kept = values_per_file(manifest, present, cells[present].tolist(), extract, shape,
                                   workers, f"{column} files", failures)
    return feature_table(manifest, values, kept, encoder="", failures=failures.arrays())
