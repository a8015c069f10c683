"""What every modality shares: its declaration, feature tables and per-file work. No Kedro.

Every extractor returns a feature table: a dict of arrays with `sample_id`, `values` (one
row per sample, zeros where the modality is missing), `present` (a boolean mask), in the
manifest's row order, `encoder` (the name of the model encoder these values are made for,
so the features parameters alone decide how a modality is encoded) and `encoder_options`.
A modality no sample has gives a table with no values at all (width 0), so an absent
column costs no memory.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from multimodal_fusion.contract.manifest import describe_row

logger = logging.getLogger(__name__)
FeatureTable = dict[str, np.ndarray]
# Bump when the keys of a feature table change, so no cached table of the old layout is reused.
TABLE_LAYOUT = "3"
# Files per task sent to a worker process: large enough that start-up and transfer are small
# beside the work, small enough that the progress bar moves and memory stays bounded.
CHUNK_FILES = 64
# Work left (estimated from the first chunk) worth starting worker processes for: each
# imports the extraction libraries, a few seconds.
PARALLEL_WORTH_SECONDS = 10.0
# `feature_workers` as the parameters give it: a number of processes, or auto. Typed as Any
# in the steps, since Kedro warns on every run about a union-typed parameter it cannot check;
# `resolve_workers` checks it instead.
WorkersSetting = Any


@dataclass(frozen=True)
class Step:
    """One node of a modality's namespace in the `features` pipeline.

    `reads` and `writes` name data inside the modality's namespace: its parameter groups
    (`params:preprocessing`, `params:features`), what earlier steps wrote, and the inputs
    every modality shares: `manifest` (the split manifest), `cache`, `workers` and `seed`.
    The last step writes `features`, the modality's feature table; a step that writes
    `fitted` (state learnt from the training split) has it versioned beside the model.
    """

    function: Callable[..., Any]
    reads: tuple[str, ...]
    writes: str
    name: str


@dataclass(frozen=True)
class Modality:
    """A modality as the pipelines, the manifest and the model see it.

    `column` is the manifest column holding it, or None when its parameters name the
    columns (tabular); `holds_files` says its cells are paths, resolved against the
    manifest's folder and checked to exist; `encoders` are the model encoders its feature
    tables may name. `check_file`, for a modality of files, decodes one file as its
    preprocessing will and raises, with the reason, on one that cannot be used, so that
    validation sets it aside before any feature is computed.
    """

    name: str
    column: str | None
    holds_files: bool
    steps: tuple[Step, ...]
    encoders: tuple[str, ...]
    check_file: Callable[[str, InputLimits], None] | None = None

    @property
    def fits(self) -> bool:
        """Whether a step learns from the training split (writes `fitted`): the model keeps
        what it learnt, so inference reuses it."""
        return any(step.writes == "fitted" for step in self.steps)


@dataclass(frozen=True)
class InputLimits:
    """What an input file may cost before it is refused; see parameters_data_preparation.yml.

    A file within the limits decodes in bounded memory and time: a 164 kB PNG can claim
    169 million pixels (1.5 GB decoded), and a clip of 6 samples or of silence carries
    nothing to learn from.
    """

    max_image_pixels: int = 50_000_000
    min_audio_seconds: float = 0.05
    max_audio_seconds: float = 600.0
    silence_dbfs: float = -60.0


def modality_cells(manifest: pd.DataFrame, column: str) -> pd.Series:
    """A modality's cells; a manifest without that column has it missing everywhere."""
    if column in manifest.columns:
        return manifest[column]
    return pd.Series("", index=manifest.index)


class ModalityFileError(ValueError):
    """An input file that exists but cannot be read; the message names the row and the fix."""


def absent_table(manifest: pd.DataFrame, modality: str) -> FeatureTable:
    """The table of a modality no sample has: every sample absent, no values."""
    logger.info("No sample has %s: the modality is absent from this run", modality)
    return feature_table(manifest, np.zeros((len(manifest), 0), dtype=np.float32),
                         np.zeros(len(manifest), dtype=bool), encoder="")


def is_absent(table: FeatureTable) -> bool:
    """Whether no sample has the table's modality."""
    return not table["present"].any()


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


def for_encoder(table: FeatureTable, values: np.ndarray, encoder: str,
                encoder_options: dict | None = None) -> FeatureTable:
    """A feature table with `table`'s samples and presence, and these values for `encoder`."""
    return {
        "sample_id": table["sample_id"],
        "values": values,
        "present": table["present"],
        "encoder": np.array(encoder),
        "encoder_options": np.array(json.dumps(encoder_options or {}, sort_keys=True)),
    }


def resolve_workers(workers: WorkersSetting) -> int:
    """`auto` (or null) is every core this process may use; otherwise the number given."""
    if workers in (None, "auto"):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"feature_workers {workers!r}: give a whole number of at least 1 "
                         "or auto")
    return workers


def _apply_each(function: Callable[[Any], Any], items: Sequence[Any]) -> list[tuple[bool, Any]]:
    """(True, result) or (False, the error's message) per item: one bad file must not hide
    which one it was, and an error message always crosses a process boundary."""
    results = []
    for item in items:
        try:
            results.append((True, function(item)))
        except Exception as error:
            results.append((False, f"{type(error).__name__}: {error}"))
    return results


def map_in_order(function: Callable[[Any], Any], items: Sequence[Any], workers: int,
                 description: str) -> Iterator[tuple[bool, Any]]:
    """`_apply_each`'s pairs for every item, in order, with a progress bar.

    The first chunk runs here and is timed. When more than one worker is allowed and the
    rest would take longer than `PARALLEL_WORTH_SECONDS` here, the rest goes to worker
    processes in chunks (joblib's loky, which suits every platform); otherwise starting them
    would cost more than it saves. Only a few chunks are in flight at once, so memory holds
    a few chunks' results, not the dataset's. Every item is computed with one BLAS thread,
    here as in a worker, so the results do not depend on which path ran.
    """
    progress = tqdm(total=len(items), desc=description, unit="file", leave=False, disable=None)
    with progress, threadpool_limits(limits=1):
        started = None
        for item in items[:CHUNK_FILES]:
            yield from _apply_each(function, [item])
            progress.update()
            started = started or time.perf_counter()  # the first item pays one-off set-up
        rest = items[CHUNK_FILES:]
        timed_items = min(len(items), CHUNK_FILES) - 1
        per_item = (time.perf_counter() - started) / timed_items if timed_items > 0 else 0.0
        if workers <= 1 or per_item * len(rest) < PARALLEL_WORTH_SECONDS:
            for item in rest:
                yield from _apply_each(function, [item])
                progress.update()
            return
        logger.info("%s: about %.0f s of work left, sharing it among %d worker processes",
                    description, per_item * len(rest), workers)
        chunks = [rest[i:i + CHUNK_FILES] for i in range(0, len(rest), CHUNK_FILES)]
        parallel = Parallel(n_jobs=workers, return_as="generator", pre_dispatch="2*n_jobs")
        for results in parallel(delayed(_apply_each)(function, chunk) for chunk in chunks):
            yield from results
            progress.update(len(results))


def file_error(manifest: pd.DataFrame, row: Any, column: str, path: str,
               message: str) -> ModalityFileError:
    """The error for a file that failed, naming its row, the file and the fix."""
    return ModalityFileError(
        f"{describe_row(manifest, row)}: cannot read {column} file {path} ({message}). "
        f"Replace the file or empty the cell to mark the {column} as missing")


def checked_results(manifest: pd.DataFrame, column: str, positions: Sequence[int],
                    results: Iterator[tuple[bool, Any]]) -> Iterator[Any]:
    """`map_in_order`'s results for the files at these manifest positions, in order; the
    first failure stops the run with that file's row, path and fix."""
    cells = modality_cells(manifest, column)
    for position, (ok, result) in zip(positions, results, strict=True):
        if not ok:
            raise file_error(manifest, cells.index[position], column, cells.iloc[position],
                             result)
        yield result


def values_per_file(manifest: pd.DataFrame, column: str, present: np.ndarray,
                    items: Sequence[Any], function: Callable[[Any], np.ndarray],
                    shape: tuple[int, ...], workers: int, description: str) -> np.ndarray:
    """`function` of each item (one per present sample, in order) in one array, zeros where a
    sample lacks the modality; the first failure stops the run with its row, file and fix."""
    values = np.zeros((len(manifest), *shape), dtype=np.float32)
    positions = np.flatnonzero(present)
    results = map_in_order(function, items, workers, description)
    for position, result in zip(positions, checked_results(manifest, column, positions, results),
                                strict=True):
        values[position] = result
    return values


def extract_per_file(manifest: pd.DataFrame, column: str, extract: Callable[[str], np.ndarray],
                     shape: tuple[int, ...], workers: int = 1) -> FeatureTable:
    """Run `extract` on every non-empty cell of `column`, zeros elsewhere, with a progress bar.

    A file that fails is reported with its row, so one bad file is easy to find and fix.
    The table names no encoder yet: the extraction step that follows chooses it.
    """
    cells = modality_cells(manifest, column)
    present = (cells != "").to_numpy()
    if not present.any():
        return absent_table(manifest, column)
    values = values_per_file(manifest, column, present, cells[present].tolist(), extract, shape,
                             workers, f"{column} files")
    return feature_table(manifest, values, present, encoder="")
