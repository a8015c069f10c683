"""One step of a run whose steps are tasks of an orchestrator: what each task of the DAG
that `kedro airflow create --env=airflow --jinja-file=src/multimodal_fusion/airflow_dag.j2`
writes runs.

A task is a `kedro run` of one namespace (a stage, or one modality's features) under the
version of its DAG run, so every task of that run reads what the others saved and nothing
of another run (see `hooks.RunIsolationHook`). The training task may launch torchrun on its
node instead, the number of processes from `orchestration.processes_per_node`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.runs.versions import ORCHESTRATED_RUN, as_version

logger = logging.getLogger(__name__)
TRAINING_STAGE = "training"
# The run's parameters, as JSON, for the torchrun ranks of a step (`launch_torchrun`).
STEP_PARAMS = "MULTIMODAL_FUSION_STEP_PARAMS"


@dataclass(frozen=True)
class OrchestrationSettings:
    """What the tasks of an orchestrated run do beyond `kedro run`; parameters_orchestration.yml."""

    processes_per_node: int

    def __post_init__(self) -> None:
        if self.processes_per_node < 1:
            raise ValueError("orchestration.processes_per_node must be 1 or more")


def dag_run_version(run_after: datetime) -> str:
    """The version of an Airflow DAG run: the moment it was due, which its retries and
    cleared tasks keep (its start time would change and split the run in two)."""
    return as_version(run_after)


@contextmanager
def step_of(version: str) -> Iterator[None]:
    """This process's runs are steps of the run `version` until the block ends."""
    before = os.environ.get(ORCHESTRATED_RUN)
    os.environ[ORCHESTRATED_RUN] = version
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ORCHESTRATED_RUN)
        else:
            os.environ[ORCHESTRATED_RUN] = before


@contextmanager
def project_session(project: Path, env: str, conf_source: str | None,
                    runtime_params: dict | None) -> Iterator[KedroSession]:
    """A session of the project as `kedro run` opens one: a step and each of its torchrun
    ranks must see the same configuration."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, conf_source=conf_source,
                             runtime_params=runtime_params) as session:
        yield session


def run_step(project: Path, env: str, pipeline: str, namespace: str, version: str,
             runtime_params: dict | None = None, conf_source: str | None = None) -> None:
    """Run the nodes of `namespace` in `pipeline` as a step of the run `version`, with the
    run's `runtime_params` (as `kedro run --params`: an Airflow DAG run's conf); the
    training stage under torchrun when `orchestration.processes_per_node` asks for it."""
    with step_of(version), project_session(project, env, conf_source,
                                           runtime_params) as session:
        parameters = session.load_context().params.get("orchestration")
        settings = typed_settings(OrchestrationSettings, parameters, "orchestration")
        if namespace == TRAINING_STAGE and settings.processes_per_node > 1:
            launch_torchrun(project, env, pipeline, namespace, settings.processes_per_node,
                            runtime_params or {}, conf_source)
        else:
            session.run(pipeline_names=[pipeline], namespaces=[namespace])


def launch_torchrun(project: Path, env: str, pipeline: str, namespace: str, processes: int,
                    runtime_params: dict, conf_source: str | None) -> None:
    """The step as `torchrun --nproc_per_node=<processes>` on this node, each rank a
    `run_rank`: every rank reads the run's version from the environment, rank 0 writes
    (`hooks.DistributedOutputsHook`). The run's parameters travel as JSON in the
    environment, since `kedro run --params` would split a value holding a comma (a list)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", "-m", "multimodal_fusion.orchestration",
               str(project), env, pipeline, namespace, *([conf_source] if conf_source else [])]
    logger.info("Training on %d processes: %s", processes, " ".join(command))
    environment = {"OMP_NUM_THREADS": "1", **os.environ,
                   STEP_PARAMS: json.dumps(runtime_params)}
    subprocess.run(command, cwd=project, env=environment, check=True)


def run_rank(project: Path, env: str, pipeline: str, namespace: str,
             conf_source: str | None = None) -> None:
    """One torchrun rank of a step: the namespace's nodes with the run's parameters."""
    with project_session(project, env, conf_source,
                         json.loads(os.environ[STEP_PARAMS])) as session:
        session.run(pipeline_names=[pipeline], namespaces=[namespace])


if __name__ == "__main__":
    run_rank(Path(sys.argv[1]), *sys.argv[2:])
