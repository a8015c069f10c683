"""The hyperparameter search (`training.search`) against the default, on validation, over seeds.

Run from the project's root with the project's environment:

    python benchmarks/search.py                          # Tux Paint, seeds 42 to 44
    python benchmarks/search.py --datasets demo tuxpaint --timeout-minutes 9
    python benchmarks/search.py --report benchmarks/search.json --readme

Each (dataset, seed) runs the real `train` pipeline through Kedro in the suite's project
folder for that dataset (features cached as the suite caches them), with a search of at
most --trials trials that starts no trial after --timeout-minutes of trials. The study's
first trial is the default settings trained as `train` trains them, so the table puts
the default's validation macro-F1 beside the best trial's, with the trials run and pruned,
the search's seconds and the best trial's strategy. Test accuracy of the chosen model is
shown for the record; nothing is chosen on it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from suite import (
    DATASETS,
    add_result_arguments,
    build_dataset,
    make_project,
    merged,
    nested,
    run_kedro,
    write_readme,
)

MARKERS = ("<!-- search:start -->", "<!-- search:end -->")


def latest(project: Path, relative: str) -> dict:
    """The newest version of a versioned JSON dataset of the project."""
    version = sorted((project / relative).iterdir())[-1]
    return json.loads((version / Path(relative).name).read_text())


def run_search(dataset: str, manifest: Path, seed: int, data: Path, trials: int,
               timeout_minutes: float, overrides: dict) -> dict:
    """One `train` with a search: what the study found and what it cost."""
    project = make_project(data / "projects" / dataset)
    params = merged({"manifest": str(manifest), "seed": seed,
                     "extraction": {"cache": str(data / "cache" / dataset)},
                     "training": {"fit": {"checkpoint_dir": None},
                                  "search": {"n_trials": trials,
                                             "timeout_minutes": timeout_minutes,
                                             "folder": str(project / "search")}}}, overrides)
    started = time.perf_counter()
    run_kedro(project, "train", params)
    search = latest(project, "data/06_models/hyperparameter_search.json")
    metrics = latest(project, "data/08_reporting/metrics.json")
    default = search["trials"][0]
    return {"dataset": dataset, "seed": seed, "wall_seconds": time.perf_counter() - started,
            "search_seconds": search["seconds"], "trials": len(search["trials"]),
            "pruned": search["pruned"], "default_val_macro_f1": default["value"],
            "best_val_macro_f1": search["best"]["value"], "best": search["best"],
            "importance": search["importance"], "test_accuracy": metrics["accuracy"]}


def markdown(runs: list[dict]) -> str:
    """A row per dataset and seed, then the mean gain on validation per dataset."""
    lines = ["| dataset | seed | trials (pruned) | search s | default val F1 | best val F1 | "
             "best strategy | chosen model's test acc |", "|---|---:|---:|---:|---:|---:|---|---:|"]
    for run in runs:
        lines.append(
            f"| {run['dataset']} | {run['seed']} | {run['trials']} ({run['pruned']}) | "
            f"{run['search_seconds']:.0f} | {run['default_val_macro_f1']:.3f} | "
            f"{run['best_val_macro_f1']:.3f} | `{run['best']['params']['strategy']}` | "
            f"{run['test_accuracy']:.3f} |")
    lines.append("")
    for dataset in dict.fromkeys(run["dataset"] for run in runs):
        gains = [r["best_val_macro_f1"] - r["default_val_macro_f1"] for r in runs
                 if r["dataset"] == dataset]
        lines.append(f"- {dataset}: mean validation gain {statistics.fmean(gains):+.3f} over "
                     f"{len(gains)} seeds (never below the default: {min(gains) >= 0})")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["tuxpaint"], choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--timeout-minutes", type=float, default=9.0,
                        help="start no trial once the trials took this long")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="parameter overrides, e.g. training.search.prune_after_epochs=5")
    add_result_arguments(parser, "search.json", "multimodal-fusion-suite")
    args = parser.parse_args()
    if args.report:
        result = json.loads(args.report.read_text())
    else:
        runs = [run_search(dataset, build_dataset(dataset, args.data), seed, args.data,
                           args.trials, args.timeout_minutes, nested(args.set))
                for dataset in args.datasets for seed in args.seeds]
        result = {"machine": platform.platform(), "trials": args.trials,
                  "timeout_minutes": args.timeout_minutes, "overrides": args.set, "runs": runs}
        args.output.write_text(json.dumps(result, indent=2))
    table = markdown(result["runs"])
    print(table)
    if args.readme:
        write_readme(table, MARKERS)


if __name__ == "__main__":
    main()
