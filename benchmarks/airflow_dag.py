"""Does `train`, run by Airflow 3 as the DAG kedro-airflow writes, give what `kedro run` gives?

Run from the project's root with the project's environment:

    python benchmarks/airflow_dag.py --venv /tmp/airflow-venv

It makes (or reuses) a virtual environment with apache-airflow and this project (Airflow
pins much of the world, so never the project's own), builds a small demo in a fresh project
folder, writes the DAG (`kedro airflow create --env=airflow --group-by=namespace` with the
project's template), loads it in Airflow's DagBag, runs it with `airflow dags test`, then
runs `kedro run --pipelines=train` in the same folder with the same seed, and compares their
metrics and modality analysis; then runs the inference DAG on the demo with the model. It
prints install time and size, the wall times, and exits 1 if the two runs differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from suite import make_project  # noqa: E402

AIRFLOW = "apache-airflow==3.3.2"
DAG_ID = "multimodal-fusion-train"
INFERENCE_DAG_ID = "multimodal-fusion-inference"
VARYING = {"train_seconds"}  # the only figure two runs of one seed do not share


def timed(command: list[str], **options) -> float:
    """Seconds `command` took; its output shown only if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **options)
    if done.returncode:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{(done.stdout + done.stderr)[-6000:]}")
    return time.perf_counter() - started


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
               ) / 1e6


def airflow_venv(venv: Path) -> dict:
    """The environment Airflow runs the tasks in: apache-airflow, kedro-airflow and the
    project (its torch from this disk, as the project's own install takes it)."""
    if (venv / "bin" / "airflow").is_file():
        return {"install_seconds": None, "venv_mb": round(folder_mb(venv))}
    seconds = timed([sys.executable, "-m", "venv", str(venv)])
    seconds += timed([str(venv / "bin" / "pip"), "install", "--quiet",
                      "--disable-pip-version-check", AIRFLOW, "-e", f"{REPO}[airflow]"])
    return {"install_seconds": round(seconds), "venv_mb": round(folder_mb(venv))}


def small_project(folder: Path, samples: int) -> Path:
    """A fresh project with conf/airflow, the demo at `samples` samples in both envs."""
    project = make_project(folder)
    shutil.copytree(REPO / "conf" / "airflow", project / "conf" / "airflow")
    smaller = f"demo_data:\n  n_samples: {samples}\n"
    for env in ("local", "airflow"):
        (project / "conf" / env / "parameters_benchmark.yml").write_text(smaller)
    return project


def versions(project: Path, relative: str) -> list[Path]:
    return sorted((project / "data" / relative).iterdir())


def figures(version: Path) -> dict:
    """A run's metrics and modality analysis, less what varies between runs."""
    metrics = json.loads((version / "metrics.json").read_text())
    analysis_folder = version.parents[1] / "modality_analysis.json" / version.name
    analysis = json.loads((analysis_folder / "modality_analysis.json").read_text())
    return {"metrics": {k: v for k, v in metrics.items() if k not in VARYING},
            "analysis": analysis}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "airflow-venv")
    parser.add_argument("--samples", type=int, default=400, help="the demo's samples")
    parser.add_argument("--output", type=Path, help="a JSON file for the figures")
    args = parser.parse_args()
    result = {"airflow": AIRFLOW, **airflow_venv(args.venv)}
    bin_ = args.venv / "bin"
    with tempfile.TemporaryDirectory() as scratch:
        project = small_project(Path(scratch) / "project", args.samples)
        env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true",
               "AIRFLOW_HOME": str(Path(scratch) / "airflow"),
               "AIRFLOW__CORE__DAGS_FOLDER": str(project / "airflow_dags"),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        kedro = [str(bin_ / "kedro")]
        timed([*kedro, "run", "--pipelines=demo_data"], cwd=project, env=env)
        result["generate_seconds"] = round(timed(
            [*kedro, "airflow", "create", "--pipelines=train,inference", "--env=airflow",
             "--group-by=namespace", f"--jinja-file={REPO}/src/multimodal_fusion/airflow_dag.j2",
             "--target-dir=airflow_dags", f"--params=project_path={project}"],
            cwd=project, env=env), 1)
        loaded = subprocess.run(
            [str(bin_ / "python"), "-c",
             "from airflow.dag_processing.dagbag import DagBag; import sys, json; "
             "bag = DagBag(dag_folder=sys.argv[1]); "
             "print(json.dumps([{str(k): str(v) for k, v in bag.import_errors.items()}, "
             "sorted(t.task_id for t in bag.dags[sys.argv[2]].tasks)]))",
             str(project / "airflow_dags"), DAG_ID],
            env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()
        errors, tasks = json.loads(loaded[-1])
        result |= {"import_errors": errors, "tasks": tasks}
        result["db_migrate_seconds"] = round(timed([str(bin_ / "airflow"), "db", "migrate"],
                                                   cwd=project, env=env), 1)
        result["dags_test_seconds"] = round(timed([str(bin_ / "airflow"), "dags", "test",
                                                   DAG_ID], cwd=project, env=env), 1)
        result["kedro_run_seconds"] = round(timed([*kedro, "run", "--pipelines=train"],
                                                  cwd=project, env=env), 1)
        result["inference_dags_test_seconds"] = round(timed(
            [str(bin_ / "airflow"), "dags", "test", INFERENCE_DAG_ID], cwd=project, env=env), 1)
        (predicted,) = versions(project, "07_model_output/predictions.csv")
        rows = (predicted / "predictions.csv").read_text().count("\n") - 1
        result["inference"] = {"version": predicted.name, "predictions": rows}
        dag_run, kedro_run = versions(project, "08_reporting/metrics.json")
        by_airflow, by_kedro = figures(dag_run), figures(kedro_run)
        result |= {"versions": [dag_run.name, kedro_run.name],
                   "same_figures": by_airflow == by_kedro,
                   "accuracy": [by_airflow["metrics"]["accuracy"],
                                by_kedro["metrics"]["accuracy"]]}
        features = [p.name for p in versions(project, "04_feature/by_run/text_features.npz")]
        result["feature_versions"] = features
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
    return 0 if result["same_figures"] and not result["import_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
