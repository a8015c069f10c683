"""Project hooks."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from multimodal_fusion.training.distributed import current_cluster

logger = logging.getLogger(__name__)


class DemoDataHook:
    """Build the demo before a run that needs it, so a fresh clone trains with one command.

    It acts only when the run reads the default (demo) manifest and that file is absent; a
    manifest the user names is never replaced. Under torchrun only rank 0 may build it, so
    there the demo has to exist beforehand.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: CatalogProtocol) -> None:
        user_manifest = "manifest" in (run_params.get("runtime_params") or {})
        if "manifest" not in pipeline.inputs() or user_manifest or catalog.exists("manifest"):
            return
        if current_cluster().distributed:
            raise RuntimeError(
                "The demo dataset is missing; build it once with `kedro run --pipeline="
                "demo_data` before launching under torchrun"
            )
        logger.info("The demo dataset is missing: building it first (pipeline demo_data)")
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
