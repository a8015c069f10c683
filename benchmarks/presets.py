"""What each preset costs and scores: one `kedro run --pipelines=train` per preset and
dataset, features computed (an empty extraction cache), as a user's first run would be.

Run from the project's root with the project's environment:

    python benchmarks/presets.py                                   # default and bagged
    python benchmarks/presets.py --presets fast default --datasets tuxpaint --seeds 42

Each run goes in a project folder of its own under --data (the suite's, so the data sets
are built once) with a fresh feature cache; the presets of one (dataset, seed) run one
after the other in one command, so their times compare. The JSON keeps each run's wall
seconds and test accuracy; the table goes to stdout, and with --readme into
benchmarks/README.md between the presets markers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from suite import (
    add_result_arguments,
    add_suite_arguments,
    build_dataset,
    latest_json,
    make_project,
    merged,
    nested,
    run_kedro,
    write_readme,
)

MARKERS = ("<!-- presets:start -->", "<!-- presets:end -->")


def run_preset(dataset: str, manifest: Path, preset: str, seed: int, data: Path,
               overrides: dict) -> dict:
    """One `train` with `preset`, its features computed afresh: wall seconds and accuracy."""
    project = data / "presets" / f"{dataset}-{preset}"
    shutil.rmtree(project, ignore_errors=True)
    make_project(project)
    params = merged({"preset": preset, "manifest": str(manifest), "seed": seed,
                     "extraction": {"cache": str(project / "cache")},
                     "training": {"fit": {"checkpoint_dir": None},
                                  "search": {"folder": str(project / "search")}}}, overrides)
    started = time.perf_counter()
    run_kedro(project, "train", params)
    wall = time.perf_counter() - started
    metrics = latest_json(project, "data/08_reporting/metrics.json")
    return {"dataset": dataset, "preset": preset, "seed": seed, "wall_seconds": wall,
            "test_accuracy": metrics["accuracy"], "val_macro_f1": metrics["val_macro_f1"]}


def markdown(runs: list[dict]) -> str:
    """Per preset, each dataset's mean test accuracy and mean wall seconds over seeds."""
    datasets = list(dict.fromkeys(run["dataset"] for run in runs))
    lines = ["| preset | " + " | ".join(f"{d} test acc / `train` s" for d in datasets) + " |",
             "|---|" + "---:|" * len(datasets)]
    for preset in dict.fromkeys(run["preset"] for run in runs):
        cells = []
        for dataset in datasets:
            mine = [r for r in runs if r["preset"] == preset and r["dataset"] == dataset]
            cells.append(f"{statistics.fmean(r['test_accuracy'] for r in mine):.3f} / "
                         f"{statistics.fmean(r['wall_seconds'] for r in mine):.0f}"
                         if mine else "not run")
        lines.append(f"| `{preset}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_suite_arguments(parser, "training.fit.max_epochs=20")
    parser.add_argument("--presets", nargs="+", default=["default", "bagged"])
    add_result_arguments(parser, "presets.json", "multimodal-fusion-suite")
    args = parser.parse_args()
    if args.report:
        result = json.loads(args.report.read_text())
    else:
        result = {"presets": args.presets, "overrides": args.set, "runs": []}
        for dataset in args.datasets:
            manifest = build_dataset(dataset, args.data)
            for seed in args.seeds:
                for preset in args.presets:
                    result["runs"].append(run_preset(dataset, manifest, preset, seed,
                                                     args.data, nested(args.set)))
                    print(json.dumps(result["runs"][-1]), flush=True)
                    args.output.write_text(json.dumps(result, indent=2))
    table = markdown(result["runs"])
    print(table)
    if args.readme:
        write_readme(table, MARKERS)


if __name__ == "__main__":
    main()
