"""Versioned datasets whose versions a run can choose: `RunVersioned` and its datasets.

Kedro saves every versioned dataset under the session's start time and loads the newest
version on disk, or the one `--load-versions` names. A run of this project needs two things
more (see `hooks.RunIsolationHook`): what it saves goes under a version taken once it holds
the project's lock, so no two runs share one; and what it reads is its own run's version,
or one stored run's version for every dataset it did not write. `pin` gives a dataset those
versions through Kedro's own `resolve_save_version` and `resolve_load_version`; without a
pin, Kedro's rule holds. Every versioned entry of catalog.yml is of a type below.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kedro_datasets._typing import JSONPreview, PlotlyPreview, TablePreview
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.plotly import JSONDataset as PlotlyJSONDataset
from kedro_datasets.text import TextDataset


class RunVersioned:
    """Mixed into a versioned dataset (before it, among the bases): a run may pin its save
    and load versions.

    A plain mixin, not a dataset itself, so the dataset's own `__init__` stays its own.
    """

    pinned_save: str | None = None
    pinned_load: str | None = None

    def pin(self, save: str | None = None, load: str | None = None) -> None:
        """Save as `save` and load `load` from now on; None leaves that one to Kedro."""
        self.pinned_save, self.pinned_load = save, load

    def resolve_save_version(self) -> str | None:
        return self.pinned_save or super().resolve_save_version()

    def resolve_load_version(self) -> str | None:
        return self.pinned_load or super().resolve_load_version()

    def stored_versions(self) -> set[str]:
        """Every version saved so far (the folders Kedro's layout keeps them in)."""
        pattern = str(self._filepath / "*" / self._filepath.name)
        return {path.rstrip("/").split("/")[-2] for path in self._glob_function(pattern)
                if self._exists_function(path)}

    def discard(self, version: str) -> None:
        """Delete what was saved as `version` (Kedro's layout: a folder per version)."""
        shutil.rmtree(Path(self._filepath) / version)

    def saved_path(self) -> str | None:
        """Where the version the run pinned was saved (Kedro's layout); None unpinned."""
        if self.pinned_save is None:
            return None
        return str(self._filepath / self.pinned_save / self._filepath.name)

    def previewable(self) -> bool:
        """Whether a run has saved it yet: kedro-viz previews it only then, rather than
        warning, with a traceback, about a pipeline nobody has run."""
        return bool(self.stored_versions())


class RunJSONDataset(RunVersioned, JSONDataset):
    """kedro-datasets' `json.JSONDataset`, its versions pinned by the run."""

    def preview(self) -> JSONPreview:
        return super().preview() if self.previewable() else None


class RunPlotlyDataset(RunVersioned, PlotlyJSONDataset):
    """kedro-datasets' `plotly.JSONDataset` (kedro-viz previews it), pinned by the run."""

    def preview(self) -> PlotlyPreview:
        return super().preview() if self.previewable() else None


class RunCSVDataset(RunVersioned, CSVDataset):
    """kedro-datasets' `pandas.CSVDataset`, its versions pinned by the run."""

    def preview(self, nrows: int = 5) -> TablePreview:
        return super().preview(nrows) if self.previewable() else None


class RunParquetDataset(RunVersioned, ParquetDataset):
    """kedro-datasets' `pandas.ParquetDataset`, its versions pinned by the run."""

    def preview(self, nrows: int = 5) -> TablePreview:
        return super().preview(nrows) if self.previewable() else None


class RunTextDataset(RunVersioned, TextDataset):
    """kedro-datasets' `text.TextDataset`, its versions pinned by the run."""
