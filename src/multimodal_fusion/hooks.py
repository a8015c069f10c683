"""Project hooks."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

logger = logging.getLogger(__name__)


class DemoDataHook:
    """Build the demo before a run that needs it, so a fresh clone trains with one command.

    It acts only when the run reads the default (demo) manifest and that file is absent; a
    manifest the user names is never replaced.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: CatalogProtocol) -> None:
        user_manifest = "manifest" in (run_params.get("runtime_params") or {})
        if "manifest" not in pipeline.inputs() or user_manifest or catalog.exists("manifest"):
            return
        logger.info("The demo dataset is missing: building it first (pipeline demo_data)")
        SequentialRunner().run(pipelines["demo_data"], catalog)
