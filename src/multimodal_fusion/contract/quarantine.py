"""Validation with a quarantine: every row, cell and file checked before any feature. No Kedro.

A bad input does not stop the run by default. A cell that cannot be used (a file that is
missing, outside the manifest's folder, empty, unreadable, cut short, silent or over budget;
text that does not decode) drops that modality for its sample, which is then masked like
any missing modality. A row that cannot be used (no id, an id used before, no label, an
unknown split, no modality left, a class too small to split) sets the whole sample aside.
Either way the quarantine report names the row, sample id, column, file, reason and fix.
With `on_bad_input: stop`, the same report stops the run, every fault listed at once.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from multimodal_fusion.contract.manifest import (
    MIN_CLASS_SAMPLES,
    SPLITS,
    ManifestError,
    split_is_given,
)
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.parallel import map_in_order

logger = logging.getLogger(__name__)
REPORT_COLUMNS = ("row", "sample_id", "column", "file", "action", "reason", "fix")
ON_BAD_INPUT = ("quarantine", "stop")
SAMPLE_SET_ASIDE = "sample quarantined"
LISTED_IN_ERROR = 40


@dataclass(frozen=True)
class InputLimits:
    """What an input file may cost before it is refused; see parameters_data_preparation.yml.

    A file within the limits decodes in bounded memory and time: a 164 kB PNG can claim
    169 million pixels (1.5 GB decoded), and a clip of 6 samples or of silence carries
    nothing to learn from.
    """

    max_image_pixels: int
    min_audio_seconds: float
    max_audio_seconds: float
    silence_dbfs: float


@dataclass(frozen=True)
class ColumnRule:
    """How validation treats one manifest column that a modality reads.

    A modality declares its rules (see `modalities.common.Modality`), so validation knows
    no modality by name. `check_file` (a column of paths) decodes a file as preprocessing
    will and raises with the reason; `check_cell` gives the reason a cell cannot be used,
    or None. A bad cell is emptied, which the report calls `emptied` (the modality dropped
    for that sample, unless the rule says otherwise).
    """

    column: str
    modality: str
    check_file: Callable[[str, InputLimits], None] | None = None
    check_cell: Callable[[object], str | None] | None = None
    emptied: str = ""

    @property
    def action(self) -> str:
        """The report's name for emptying a bad cell of this column."""
        return self.emptied or f"{self.modality} dropped"


@dataclass(frozen=True)
class PreparationSettings:
    """The `data_preparation` parameters; see parameters_data_preparation.yml."""

    test_size: float
    val_size: float
    on_bad_input: str
    max_rejected_share: float
    allow_paths_outside: bool
    limits: InputLimits | dict

    def __post_init__(self) -> None:
        if self.on_bad_input not in ON_BAD_INPUT:
            raise ValueError(f"data_preparation.on_bad_input {self.on_bad_input!r}: choose "
                             f"{' or '.join(ON_BAD_INPUT)}")
        if not 0 <= self.max_rejected_share <= 1:
            raise ValueError("data_preparation.max_rejected_share must be a share from 0 to 1")
        if isinstance(self.limits, dict):
            object.__setattr__(self, "limits", typed_settings(
                InputLimits, self.limits, "data_preparation.limits"))


class Screening:
    """The faults found so far, and the manifest as they leave it."""

    def __init__(self, manifest: pd.DataFrame) -> None:
        self.manifest = manifest.copy()
        self.faults: list[dict] = []
        self.set_aside: set[int] = set()

    def kept(self) -> pd.Index:
        """The rows no fault has set aside yet."""
        return self.manifest.index.difference(sorted(self.set_aside), sort=False)

    def record(self, row: int, column: str, action: str, reason: str, fix: str,
               file: str = "") -> None:
        self.faults.append({"row": row, "sample_id": str(self.manifest.at[row, "sample_id"]),
                            "column": column, "file": file, "action": action,
                            "reason": reason, "fix": fix})

    def set_sample_aside(self, row: int, column: str, reason: str, fix: str) -> None:
        self.set_aside.add(row)
        self.record(row, column, SAMPLE_SET_ASIDE, reason, fix)

    def drop_cell(self, row: int, rule: ColumnRule, reason: str, fix: str,
                  file: str = "") -> None:
        """The cell becomes empty: a missing modality (or value) for that sample."""
        self.manifest.at[row, rule.column] = ""
        self.record(row, rule.column, rule.action, reason, fix, file)

    def report(self) -> pd.DataFrame:
        """The faults in the manifest's row order."""
        report = pd.DataFrame(self.faults, columns=list(REPORT_COLUMNS))
        return report.sort_values("row", kind="stable", ignore_index=True)


def screen_manifest(manifest: pd.DataFrame, settings: dict, rules: list[ColumnRule],
                    workers: int = 1, labelled: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The usable part of the manifest, and the quarantine report of what was set aside.

    Args:
        manifest: as `read_manifest` gives it, file paths not yet resolved; the usable part
            has them resolved against the manifest's folder.
        settings: the `data_preparation` parameters.
        rules: how to check each column a modality reads (see `modalities.column_rules`).
        workers: processes that check files.
        labelled: False for a manifest to predict, which has no labels.
    """
    chosen = typed_settings(PreparationSettings, settings, "data_preparation")
    screening = screened(manifest, chosen, rules, workers, labelled)
    report = screening.report()
    log_summary(manifest, screening, report)
    enforce(manifest, screening, report, chosen)
    return screening.manifest.loc[screening.kept()], report


def screened(manifest: pd.DataFrame, settings: PreparationSettings, rules: list[ColumnRule],
             workers: int = 1, labelled: bool = True) -> Screening:
    """Every check of `screen_manifest`, its faults recorded and none acted on (a served
    model refuses a request with any)."""
    check_structure(manifest, rules, labelled)
    screening = Screening(manifest)
    check_text(screening, rules)
    check_rows(screening, labelled)
    check_files(screening, rules, settings, workers)
    check_cells(screening, rules)
    check_something_left(screening, rules)
    if labelled and not split_is_given(screening.manifest.loc[screening.kept()]):
        check_class_sizes(screening)
    if labelled:
        warn_of_look_alike_labels(screening.manifest.loc[screening.kept(), "label"])
    return screening


def check_structure(manifest: pd.DataFrame, rules: list[ColumnRule], labelled: bool) -> None:
    """Faults of the whole manifest, which no single row can be blamed for."""
    source = manifest.attrs.get("source", "the manifest")
    for column in ("sample_id", "label") if labelled else ("sample_id",):
        if column not in manifest.columns:
            raise ManifestError(f"{source} has no '{column}' column; add one (see the README's "
                                "'Your own data')")
    if not {rule.column for rule in rules} & set(manifest.columns):
        raise ManifestError(
            f"{source} has none of the columns the modalities read "
            f"({', '.join(rule.column for rule in rules)}): there is nothing to learn from. "
            "Add a column per modality, or name your columns of numbers and categories in "
            "tabular.preprocessing (see the README's 'Your own data')")


def check_text(screening: Screening, rules: list[ColumnRule]) -> None:
    """Cells whose bytes are not text in the manifest's encoding (see `read_manifest`)."""
    fix = ("save the manifest as UTF-8, or name its encoding with "
           "--params=manifest_encoding=<encoding>")
    by_column = {rule.column: rule for rule in rules}
    for column, rows in screening.manifest.attrs.get("undecodable", {}).items():
        for row, reason in rows.items():
            if column in ("sample_id", "label"):
                screening.set_sample_aside(row, column, f"{column} {reason}", fix)
            elif column in by_column:
                screening.drop_cell(row, by_column[column], f"{column} {reason}", fix)
            else:
                screening.record(row, column, "kept with replacement characters",
                                 f"{column} {reason}", fix)


def check_rows(screening: Screening, labelled: bool) -> None:
    """Ids that are empty or used twice, empty labels, unknown splits: the sample goes."""
    manifest = screening.manifest
    first_row: dict[str, int] = {}
    for row in screening.kept():
        sample_id = manifest.at[row, "sample_id"]
        if not sample_id:
            screening.set_sample_aside(row, "sample_id", "empty sample_id",
                                       "give the sample a unique id")
        elif sample_id in first_row:
            screening.set_sample_aside(row, "sample_id", f"sample_id {sample_id!r} is also row "
                                       f"{first_row[sample_id]}'s",
                                       "give each sample a unique id")
        else:
            first_row[sample_id] = row
    for row in screening.kept():
        if labelled and not manifest.at[row, "label"]:
            screening.set_sample_aside(row, "label", "empty label", "fill in the class")
        elif "split" in manifest.columns and manifest.at[row, "split"] not in ("", *SPLITS):
            screening.set_sample_aside(
                row, "split", f"split {manifest.at[row, 'split']!r} is not one of "
                f"{', '.join(SPLITS)}", "fix it, or leave it empty")


def check_files(screening: Screening, rules: list[ColumnRule], settings: PreparationSettings,
                workers: int) -> None:
    """Each file cell resolved, contained, present and decodable, or its modality dropped."""
    base = Path(screening.manifest.attrs.get("source", "manifest")).parent
    for rule in (r for r in rules if r.check_file and r.column in screening.manifest.columns):
        cells = screening.manifest.loc[screening.kept(), rule.column]
        paths = {row: (base / Path(cell).expanduser()).as_posix()
                 for row, cell in cells.items() if cell}
        screening.manifest.loc[list(paths), rule.column] = list(paths.values())
        readable = [row for row, path in paths.items()
                    if locate(screening, row, rule, path, base, settings)]
        fix = f"replace the file, or empty the cell to mark the {rule.column} as missing"
        results = map_in_order(lambda path, check=rule.check_file: check(
            path, settings.limits), [paths[row] for row in readable], workers,
            f"checking {rule.column} files")
        for row, (ok, reason) in zip(readable, results, strict=True):
            if not ok:
                screening.drop_cell(row, rule,
                                    f"cannot use it: {reason.removeprefix('ValueError: ')}",
                                    fix, paths[row])


def locate(screening: Screening, row: int, rule: ColumnRule, path: str, base: Path,
           settings: PreparationSettings) -> bool:
    """Whether the file is inside the manifest's folder (unless allowed), there and not empty;
    otherwise its modality is dropped with the reason."""
    resolved = Path(path).resolve()
    if not settings.allow_paths_outside and not resolved.is_relative_to(base.resolve()):
        screening.drop_cell(
            row, rule, f"the path leads outside the manifest's folder {base.resolve()}",
            "move the file into the manifest's folder, or allow paths outside it with "
            "data_preparation.allow_paths_outside: true if you trust this manifest", path)
        return False
    if not resolved.is_file():
        screening.drop_cell(
            row, rule, "the file does not exist",
            "fix the path (relative paths count from the manifest's folder), or empty the "
            f"cell to mark the {rule.column} as missing", path)
        return False
    if resolved.stat().st_size == 0:
        screening.drop_cell(row, rule, "the file is empty (0 bytes)",
                            f"replace the file, or empty the cell to mark the {rule.column} "
                            "as missing", path)
        return False
    return True


def check_cells(screening: Screening, rules: list[ColumnRule]) -> None:
    """A cell its rule cannot use (a tabular number that is not one) is emptied, reported."""
    for rule in (r for r in rules if r.check_cell and r.column in screening.manifest.columns):
        cells = screening.manifest.loc[screening.kept(), rule.column]
        for row, cell in cells.items():
            reason = rule.check_cell(cell)
            if reason:
                screening.drop_cell(row, rule, reason,
                                    "fix it, or empty the cell to mark the value as missing")


def check_something_left(screening: Screening, rules: list[ColumnRule]) -> None:
    """A sample with no modality (none given, or every one dropped) has nothing to learn from."""
    manifest = screening.manifest
    held = [c for c in dict.fromkeys(rule.column for rule in rules) if c in manifest.columns]
    filled = manifest.loc[screening.kept(), held].fillna("").astype(str) != ""
    for row in filled.index[~filled.any(axis=1).to_numpy()]:
        dropped = [f["column"] for f in screening.faults if f["row"] == row]
        screening.set_sample_aside(
            row, ",".join(held), "no modality left" + (
                f" after dropping {', '.join(dropped)}" if dropped else ": every cell empty"),
            "give the sample at least one usable modality, or remove the row")


def check_class_sizes(screening: Screening) -> None:
    """A class too small for a stratified split is set aside, so the split stays stratified."""
    labels = screening.manifest.loc[screening.kept(), "label"]
    counts = labels.value_counts()
    for row, label in labels.items():
        if counts[label] < MIN_CLASS_SAMPLES:
            screening.set_sample_aside(
                row, "label", f"class {label!r} has {counts[label]} usable sample(s); a "
                f"stratified split needs {MIN_CLASS_SAMPLES} (one each for train, val and test)",
                "add samples of this class, or give every row a split")


def warn_of_look_alike_labels(labels: pd.Series) -> None:
    """Labels that differ only in letter case, spacing or Unicode form are different
    classes, as they may be meant to be (a and A in handwriting), but more often one class
    typed two ways: say so, with where each spelling first occurs."""
    spellings: dict[str, list[str]] = {}
    for label in labels.unique():
        key = " ".join(unicodedata.normalize("NFKC", label).casefold().split())
        spellings.setdefault(key, []).append(label)
    counts = labels.value_counts()
    for alike in (found for found in spellings.values() if len(found) > 1):
        described = "; ".join(f"{label!r}: {counts[label]} sample(s), first at row "
                              f"{labels.index[labels == label][0]}" for label in alike)
        logger.warning("Labels that differ only in case, spacing or Unicode form are trained "
                       "as %d different classes (%s). If they are one class, write it one "
                       "way in the manifest.", len(alike), described)


def log_summary(manifest: pd.DataFrame, screening: Screening, report: pd.DataFrame) -> None:
    """The counts, then every fault a line each, so the log alone says what to fix."""
    source = Path(manifest.attrs.get("source", "the manifest")).name
    if report.empty:
        logger.info("Validation: all %d samples of %s are usable", len(manifest), source)
        return
    counts = ", ".join(f"{count} x {action}" for action, count
                       in sorted(Counter(report["action"]).items()))
    logger.warning("Validation: %d of %d samples of %s set aside (%s); the quarantine "
                   "report lists each fault with its fix:\n%s", len(screening.set_aside),
                   len(manifest), source, counts, listing(report))


def enforce(manifest: pd.DataFrame, screening: Screening, report: pd.DataFrame,
            settings: PreparationSettings) -> None:
    """Stop, listing every fault, when asked to stop on any or when too much was set aside."""
    source = manifest.attrs.get("source", "the manifest")
    share = len(screening.set_aside) / len(manifest)
    if settings.on_bad_input == "stop" and not report.empty:
        raise ManifestError(f"{source}: {len(report)} inputs cannot be used "
                            f"(data_preparation.on_bad_input: stop):\n{listing(report)}")
    if share > settings.max_rejected_share or not len(screening.kept()):
        raise ManifestError(
            f"{source}: {len(screening.set_aside)} of {len(manifest)} samples ({share:.0%}) "
            f"cannot be used, more than data_preparation.max_rejected_share "
            f"({settings.max_rejected_share:.0%}) allows:\n{listing(report)}")


def with_extraction_faults(report: pd.DataFrame, faults: list[dict], manifest: pd.DataFrame,
                           settings: dict) -> pd.DataFrame:
    """Validation's report with the files that failed in extraction, in row order; with
    `on_bad_input: stop`, they stop the run as validation's faults would have."""
    chosen = typed_settings(PreparationSettings, settings, "data_preparation")
    found = pd.DataFrame(faults, columns=list(REPORT_COLUMNS))
    if chosen.on_bad_input == "stop" and not found.empty:
        count = f"{len(found)} file{'s' if len(found) > 1 else ''}"
        raise ManifestError(f"{manifest.attrs.get('source', 'the manifest')}: {count} failed "
                            "in extraction (data_preparation.on_bad_input: stop):\n"
                            f"{listing(found)}")
    if found.empty:
        return report
    # rows read back from a report's CSV are text
    return pd.concat([report, found], ignore_index=True).sort_values(
        "row", kind="stable", ignore_index=True, key=lambda rows: rows.astype(int))


def listing(report: pd.DataFrame) -> str:
    """The faults a line each, with their fixes; a long list is cut with a count."""
    lines = [f"  row {f.row} (sample_id {f.sample_id!r}) {f.column}"
             f"{f' {f.file}' if f.file else ''}: {f.reason}; {f.action}. Fix: {f.fix}"
             for f in report.itertuples()]
    if len(lines) > LISTED_IN_ERROR:
        lines = lines[:LISTED_IN_ERROR] + [f"  ... and {len(lines) - LISTED_IN_ERROR} more"]
    return "\n".join(lines)
