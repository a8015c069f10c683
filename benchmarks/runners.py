"""Kedro's ThreadRunner against its SequentialRunner: the modalities' feature namespaces at
once, or one after another.

Run from the project's root with the project's environment:

    python benchmarks/runners.py --sizes 1 4

For each size (times the demo's 1,797 samples) it builds the demo and its split once in a
fresh project, then runs `kedro run --pipelines=features` with the feature cache off under
each runner, in turn, `--repeats` times, and prints the wall and runner seconds and the peak
memory of each. The outputs are the same either way (tests/pipelines/test_train.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from speed import DEMO_SAMPLES, ENV, kedro, measured  # noqa: E402
from suite import make_project  # noqa: E402

RUNNERS = ("SequentialRunner", "ThreadRunner")


def runner_rows(data: Path, size: int, repeats: int) -> list[dict]:
    project = make_project(data / f"{size}x")
    for pipeline in ("demo_data", "data_preparation"):  # untimed: what features reads
        subprocess.run(kedro(pipeline, {"demo_data.n_samples": DEMO_SAMPLES * size}),
                       cwd=project, env=ENV, check=True, capture_output=True)
    rows = []
    for attempt in range(repeats):
        for runner in RUNNERS:
            command = [*kedro("features", {"extraction.cache": "null"}), f"--runner={runner}"]
            result = measured(command, cwd=project)
            rows.append({"samples": DEMO_SAMPLES * size, "runner": runner,
                         "attempt": attempt + 1, **result})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [row for size in args.sizes
                for row in runner_rows(Path(folder), size, args.repeats)]
    print("| samples | runner | attempt | seconds | runner seconds | peak MB (largest process) "
          "| peak MB (process tree) |\n|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['samples']:,} | {row['runner']} | {row['attempt']} | {row['seconds']} | "
              f"{row['runner_seconds']} | {row['peak_rss_mb']:,} | {row['peak_pss_mb']:,} |")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
