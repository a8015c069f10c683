"""Project hooks: runs kept apart and versioned, the demo built when a run needs it, torchrun's
other ranks kept from writing, MLflow tracking where configured, and a summary at the end."""

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
from kedro.io import CatalogProtocol, MemoryDataset
from kedro.pipeline import Pipeline

from multimodal_fusion.core.config import dotted
from multimodal_fusion.datasets.versioned import RunVersioned
from multimodal_fusion.demo.check import incomplete_demo_files
from multimodal_fusion.demo.generator import DemoSettings, build_demo
from multimodal_fusion.runs.lock import ProjectLock
from multimodal_fusion.runs.versions import orchestrated_version, run_version, stored_run_version
from multimodal_fusion.training.distributed import current_cluster

logger = logging.getLogger(__name__)


class RunIsolationHook:
    """A run reads only what it wrote: one run at a time in a project's `data/` (see
    `runs.lock`), everything it saves under one version taken once it holds the lock, and
    every versioned dataset it reads either its own (this run's version) or of one stored
    run (the version `--load-versions` names, else the newest stored run that has them all;
    see `runs.versions`). The run's id (its version), folder, start time and the stored
    version it reads become the dataset `run_context`, for its run record.

    It acts before every other hook, so the demo is built under the lock too. Under
    torchrun only rank 0 takes the lock: the other ranks write nothing
    (`DistributedOutputsHook`).

    A run whose steps are processes of their own (an Airflow DAG run, each task a `kedro
    run` of one stage) names its version in the environment (`runs.versions.
    ORCHESTRATED_RUN`). Each step then saves under that version and reads there what any
    step of that run writes, so two DAG runs never read each other's data, and takes no
    lock: what steps hand each other is versioned too (conf/airflow), so steps of one run
    and of several run at once. A step run again (an Airflow retry) replaces what its
    earlier attempt saved.
    """

    def __init__(self) -> None:
        self.lock: ProjectLock | None = None
        self.load_versions: dict[str, str] = {}

    @hook_impl
    def after_catalog_created(self, load_versions: dict[str, str]) -> None:
        self.load_versions = dict(load_versions or {})

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: CatalogProtocol) -> None:
        version = run_params["run_id"]
        names = run_params.get("pipeline_names") or ["__default__"]
        run_writes = None
        if (step_of := orchestrated_version()) is not None:
            version = step_of
            run_writes = set().union(*(pipelines[name].all_outputs() for name in names))
            if current_cluster().is_main:
                replace_earlier_attempt(pipeline, catalog, version)
        elif current_cluster().is_main:
            self.release()  # a run of this process that failed before it started
            self.lock = ProjectLock(Path(run_params["project_path"]) / "data")
            self.lock.acquire(f"kedro run --pipelines={','.join(names)}")
            version = run_version()
        stored = pin_versions(pipeline, catalog, version, self.load_versions, run_writes)
        catalog["run_context"] = MemoryDataset({
            "run_id": version, "project_path": run_params["project_path"],
            "started": time.time(), "read_version": stored})

    @hook_impl
    def after_pipeline_run(self) -> None:
        self.release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self.release()

    def release(self) -> None:
        """Let the next run in, if this process holds the lock."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def pin_versions(pipeline: Pipeline, catalog: CatalogProtocol, version: str,
                 load_versions: dict[str, str], run_writes: set[str] | None = None
                 ) -> str | None:
    """Pin the versions of every versioned dataset the run touches; the stored run's version
    it reads (None when it reads none).

    What the run writes is saved and read back as `version` (Kedro checks a save by the
    version it would load, which must not be a later run's); so is what an earlier step of
    the same run wrote, when `pipeline` is one step of a run that writes `run_writes`.
    What it only reads is read at one stored run's version (see
    `runs.versions.stored_run_version`).
    """
    written = pipeline.all_outputs()
    this_run = written | (run_writes or set())
    read = {name for each in pipeline.nodes for name in each.inputs}
    ours = {name: dataset for name in sorted(written | read)
            if isinstance(dataset := catalog.get(name), RunVersioned)}
    stored = {name: dataset for name, dataset in ours.items() if name not in this_run}
    stored_version = stored_run_version(
        {name: dataset.stored_versions() for name, dataset in stored.items()}, load_versions)
    for name, dataset in ours.items():
        if name in written:
            dataset.pin(save=version, load=version)
        elif name in this_run:
            dataset.pin(load=version)
        else:
            dataset.pin(load=stored_version)
    return stored_version


def replace_earlier_attempt(pipeline: Pipeline, catalog: CatalogProtocol, version: str) -> None:
    """Make room for this step's outputs at `version`: Kedro saves no version twice, and an
    orchestrator runs a failed step again (a retry, a cleared task) in the same run."""
    for name in sorted(pipeline.all_outputs()):
        dataset = catalog.get(name)
        if isinstance(dataset, RunVersioned) and version in dataset.stored_versions():
            logger.warning("%s: an earlier attempt of this step saved version %s; replacing "
                           "it", name, version)
            dataset.discard(version)


class RunSummaryHook:
    """The end of a run says what happened: the summary its pipeline's last node gives
    (each `*_summary` dataset, see `evaluation.summary`), then where the datasets it names
    were saved. It acts after every other hook, so these are the log's last lines; under
    torchrun, rank 0 alone says them."""

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: dict[str, Any],
                           catalog: CatalogProtocol) -> None:
        if not current_cluster().is_main:
            return
        project = Path(run_params["project_path"])
        for name in sorted(n for n in run_result if n.endswith("_summary")):
            told = run_result[name].load()
            for line in told["lines"]:
                logger.info("%s", line)
            saved = {dataset: catalog.get(dataset) for dataset in told["saved"]}
            saved = {name: d for name, d in saved.items()
                     if isinstance(d, RunVersioned) and d.saved_path()}
            if saved:
                logger.info("saved as version %s:", next(iter(saved.values())).pinned_save)
            for dataset_name, dataset in saved.items():
                path = Path(dataset.saved_path())
                shown = path.relative_to(project) if path.is_relative_to(project) else path
                logger.info("  %s: %s", dataset_name.replace("_", " "), shown)


class DemoDataHook:
    """Build the demo before a run that needs it, so a fresh clone trains with one command.

    It acts only when the run reads the default (demo) manifest and that demo is absent or
    incomplete (a build cut short, a file deleted); a manifest the user names is never
    replaced. It saves the demo as `kedro run --pipelines=demo_data` does, with the same
    parameters, to the catalog's `demo`. Under torchrun only rank 0 may build it, so there
    the demo has to exist beforehand.
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
        if current_cluster().distributed or orchestrated_version():
            raise RuntimeError(
                "The demo dataset is missing or incomplete; build it once with `kedro run "
                "--pipelines=demo_data` before launching under torchrun or an orchestrator "
                "(whose steps would each build it)"
            )
        logger.info("Building the demo dataset in %s first", manifest.parent)
        settings = catalog.load("params:demo_data")
        catalog.save("demo", build_demo(DemoSettings(**settings,
                                                     seed=catalog.load("params:seed"))))


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
        with replacing_quietly():
            for name in pipeline.all_outputs():
                catalog[name] = MemoryDataset()
        logger.info("Rank %d of %d: outputs stay in memory; rank 0 writes them",
                    cluster.rank, cluster.world_size)


@contextmanager
def replacing_quietly() -> Iterator[None]:
    """Kedro warns of every dataset a catalog entry replaces; here replacing is the point."""
    catalog_logger = logging.getLogger("kedro.io.data_catalog")

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Replacing dataset")

    catalog_logger.addFilter(keep)
    try:
        yield
    finally:
        catalog_logger.removeFilter(keep)


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
            self.end_run_left_open()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any],
                          pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        if self.tracker:
            self.tracker.on_pipeline_error(error, run_params, pipeline, catalog)
            self.end_run_left_open()

    def end_run_left_open(self) -> None:
        """kedro-mlflow 2.0.3 leaves its run active after a tracked run (it reopens the run
        before every node), so in a process that goes on (a notebook, a test, `airflow
        dags test` running the next task) the next session logged into it and failed on
        its changed parameters; a run the user had open before is left to them."""
        import mlflow

        if getattr(self.tracker, "_already_active_mlflow", False):
            return
        while (active := mlflow.active_run()) and active.info.run_id == self.tracker.run_id:
            mlflow.end_run()


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
    """The run's metrics (`train`'s, `evaluate`'s or `inference`'s on labelled samples) as
    MLflow metrics; its record, leaderboard and reports as files."""
    import mlflow

    outputs = pipeline.all_outputs()
    for name in ("metrics", "reevaluated_metrics", "inference_metrics"):
        if name in outputs:
            mlflow.log_metrics(numbers_in(catalog.load(name)))
    for name in ("run_record", "leaderboard"):
        if name in outputs:
            mlflow.log_dict(catalog.load(name), f"{name}.json")
    for name in ("run_report", "compare_report"):
        if name in outputs:
            mlflow.log_text(catalog.load(name), f"{name}.html")
    if "fusion_model" in outputs and (saved := catalog.get("fusion_model").saved_path()):
        log_served_model(Path(saved), catalog)


def log_served_model(weights: Path, catalog: CatalogProtocol) -> None:
    """The run's model as the MLflow model `model` that `mlflow models serve` serves, with
    the run's validation and the serving settings."""
    from multimodal_fusion.serving.mlflow_model import log_serving_model
    from multimodal_fusion.serving.service import service_settings

    uri = log_serving_model(weights, service_settings(
        catalog.load("params:data_preparation"), catalog.load("params:serving"),
        catalog.load("params:seed")))
    logger.info("MLflow model %s logged; serve it with: mlflow models serve -m %s "
                "--env-manager local", uri, uri)


def numbers_in(values: dict) -> dict[str, float]:
    """Every number of a nested dict, keyed by its path ("macro.f1")."""
    return {key: float(value) for key, value in dotted(values).items()
            if isinstance(value, int | float) and not isinstance(value, bool)}
