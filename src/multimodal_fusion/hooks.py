"""Project hooks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import (
    AbstractVersionedDataset,
    CatalogProtocol,
    DatasetError,
    MemoryDataset,
    Version,
)
from kedro.io.core import generate_timestamp
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from multimodal_fusion.demo.check import incomplete_demo_files
from multimodal_fusion.runs.lock import ProjectLock
from multimodal_fusion.training.distributed import current_cluster

logger = logging.getLogger(__name__)


class RunIsolationHook:
    """A run reads only what it wrote: one run at a time in a project's `data/` (see
    `runlock`), and the versions it evaluates are the ones it saved. Once it holds the
    lock, the run's id (the version of all it saves), folder and start time become the
    dataset `run_context`, for its run record.

    It acts before every other hook, so the demo is built under the lock too. Under
    torchrun only rank 0 takes the lock: the other ranks write nothing
    (`DistributedOutputsHook`).
    """

    def __init__(self) -> None:
        self.lock: ProjectLock | None = None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: CatalogProtocol) -> None:
        run_id = run_params["run_id"]
        if current_cluster().is_main:
            self._release()  # a run of this process that failed before it started
            self.lock = ProjectLock(Path(run_params["project_path"]) / "data")
            names = ", ".join(run_params.get("pipeline_names") or ["__default__"])
            self.lock.acquire(f"kedro run --pipeline={names}")
            run_id = restamp_versions(pipeline, catalog)
            pin_own_versions(pipeline, catalog)
        catalog["run_context"] = MemoryDataset({
            "run_id": run_id, "project_path": run_params["project_path"],
            "started": time.time(), "model_version": pin_model_companions(pipeline, catalog)})

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def restamp_versions(pipeline: Pipeline, catalog: CatalogProtocol) -> str:
    """One version for everything the run saves, taken once it holds the lock; returned.

    Kedro stamps a run with its start time to the millisecond, so two runs started at once
    can get the same version and the second would find its folders taken. A time taken
    under the lock is later than the start of every run that held it before.
    """
    version = generate_timestamp()
    for name in sorted(pipeline.all_outputs()):
        dataset = catalog.get(name)
        own = getattr(dataset, "_version", None)
        if isinstance(dataset, AbstractVersionedDataset) and own and own.save:
            dataset._version = Version(own.load, version)
    return version


def pin_own_versions(pipeline: Pipeline, catalog: CatalogProtocol) -> None:
    """Each versioned dataset the run writes and then reads loads this run's version.

    Kedro otherwise loads the newest version on disk, which is another run's when one
    started later and finished first.
    """
    read = {name for each in pipeline.nodes for name in each.inputs}
    for name in sorted(pipeline.all_outputs() & read):
        dataset = catalog.get(name)
        version = getattr(dataset, "_version", None)
        if isinstance(dataset, AbstractVersionedDataset) and version and version.save:
            dataset._version = Version(version.save, version.save)


def pin_model_companions(pipeline: Pipeline, catalog: CatalogProtocol) -> str | None:
    """A run that reads a stored model (`evaluate`, `inference`, `export`) reads what the
    model's own run saved beside it, of the same version: its split, history, metrics and
    record. The model's version is the one `--load-versions` names, else the newest; it
    is returned (None when the run trains its own model, or none is stored yet).
    """
    if "fusion_model" not in pipeline.inputs():
        return None
    try:
        version = catalog.get("fusion_model").resolve_load_version()
    except DatasetError:
        return None  # no model yet: loading it will say so
    for name in sorted(pipeline.inputs() - {"fusion_model"}):
        dataset = catalog.get(name)
        own = getattr(dataset, "_version", None)
        if (isinstance(dataset, AbstractVersionedDataset) and own and not own.load
                and dataset._exists_function(str(dataset._get_versioned_path(version)))):
            dataset._version = Version(version, own.save)
    return version


class DemoDataHook:
    """Build the demo before a run that needs it, so a fresh clone trains with one command.

    It acts only when the run reads the default (demo) manifest and that demo is absent or
    incomplete (a build cut short, a file deleted); a manifest the user names is never
    replaced. Under torchrun only rank 0 may build it, so there the demo has to exist
    beforehand.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: CatalogProtocol) -> None:
        user_manifest = "manifest" in (run_params.get("runtime_params") or {})
        if "manifest" not in pipeline.inputs() or user_manifest:
            return
        manifest = catalog.get("manifest").filepath
        gaps = incomplete_demo_files(manifest)
        if manifest.is_file() and not gaps:
            return
        if gaps:
            logger.warning("The demo dataset in %s is incomplete (%d files missing or empty, "
                           "such as %s): a build was cut short. Building it again",
                           manifest.parent, len(gaps), gaps[0])
        if current_cluster().distributed:
            raise RuntimeError(
                "The demo dataset is missing or incomplete; build it once with `kedro run "
                "--pipeline=demo_data` before launching under torchrun"
            )
        logger.info("Building the demo dataset first (pipeline demo_data)")
        SequentialRunner().run(pipelines["demo_data"], catalog)


class DistributedOutputsHook:
    """Under torchrun, every rank runs the pipeline but only rank 0 writes its outputs.

    The other ranks keep what their nodes produce in memory, so two processes never write
    the same file or add a version each.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: CatalogProtocol) -> None:
        cluster = current_cluster()
        if cluster.is_main:
            return
        for name in pipeline.all_outputs():
            catalog[name] = MemoryDataset()
        logger.info("Rank %d of %d: outputs stay in memory; rank 0 writes them",
                    cluster.rank, cluster.world_size)


class MlflowTrackingHook:
    """Experiment tracking with MLflow through kedro-mlflow, on only where the project's
    `conf/` holds an `mlflow.yml` (`kedro mlflow init`) and the `mlflow` extra is installed.

    kedro-mlflow's own hook would track every run once installed, so its automatic
    registration is off (settings) and this one delegates to it when configured; the
    store is the project's `mlflow.db` unless mlflow.yml names another. Nested
    parameter groups are logged a key each (a long value as a tag), and at the end of a
    run its metrics, run record, leaderboard and HTML report go to the MLflow run too.
    Under torchrun only rank 0 tracks.
    """

    def __init__(self) -> None:
        self.tracker = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self.tracker = None
        configured = any((Path(context.project_path) / "conf").glob("*/mlflow*.yml"))
        if not configured or not current_cluster().is_main:
            return
        try:
            from kedro_mlflow.framework.hooks import MlflowHook
        except ImportError:
            logger.warning("conf/ has an mlflow.yml but kedro-mlflow is not installed, so "
                           "runs are not tracked: pip install -e \".[mlflow]\"")
            return
        self.tracker = MlflowHook()
        with default_tracking_store(Path(context.project_path)):
            self.tracker.after_context_created(context)
        params = self.tracker.mlflow_config.tracking.params
        params.dict_params.flatten = True
        if params.long_params_strategy == "fail":
            params.long_params_strategy = "tag"

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol, conf_catalog: dict,
                              conf_creds: dict, parameters: dict, save_version: str,
                              load_versions: dict) -> None:
        if self.tracker:
            self.tracker.after_catalog_created(catalog, conf_catalog, conf_creds, parameters,
                                               save_version, load_versions)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: CatalogProtocol) -> None:
        if self.tracker:
            self.tracker.before_pipeline_run(run_params, pipeline, catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: CatalogProtocol, inputs: dict[str, Any],
                        is_async: bool) -> None:
        if self.tracker:
            self.tracker.before_node_run(node, catalog, inputs, is_async)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                           catalog: CatalogProtocol) -> None:
        if self.tracker:
            log_run_outputs(pipeline, catalog)
            self.tracker.after_pipeline_run(run_params, pipeline, catalog)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any],
                          pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        if self.tracker:
            self.tracker.on_pipeline_error(error, run_params, pipeline, catalog)


@contextmanager
def default_tracking_store(project: Path) -> Iterator[None]:
    """With no tracking URI named (in mlflow.yml or MLFLOW_TRACKING_URI), a SQLite store in
    the project, `mlflow.db`: kedro-mlflow would otherwise pick a folder store, which
    MLflow 3 refuses."""
    named = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = named or f"sqlite:///{(project / 'mlflow.db').as_posix()}"
    try:
        yield
    finally:
        if named is None:
            del os.environ["MLFLOW_TRACKING_URI"]


def log_run_outputs(pipeline: Pipeline, catalog: CatalogProtocol) -> None:
    """The run's metrics as MLflow metrics; its record, leaderboard and reports as files."""
    import mlflow

    outputs = pipeline.all_outputs()
    if "metrics" in outputs:
        mlflow.log_metrics(numbers_in(catalog.load("metrics")))
    for name in ("run_record", "leaderboard"):
        if name in outputs:
            mlflow.log_dict(catalog.load(name), f"{name}.json")
    for name in ("run_report", "compare_report"):
        if name in outputs:
            mlflow.log_text(catalog.load(name), f"{name}.html")


def numbers_in(values: dict, prefix: str = "") -> dict[str, float]:
    """Every number of a nested dict, keyed by its path ("macro.f1")."""
    numbers = {}
    for key, value in values.items():
        if isinstance(value, dict):
            numbers |= numbers_in(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            numbers[f"{prefix}{key}"] = float(value)
    return numbers
