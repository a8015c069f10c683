"""Does `torchrun --nproc_per_node=2` train the demo as well as a single process?

Run from the project's root, after `kedro run --pipelines=train` has built the features:

    python benchmarks/distributed_parity.py

For each of six seeds it trains and evaluates once in one process and once under
torchrun with two CPU ranks (gloo), prints the test accuracies, and exits 1 if their means
differ by more than one point. Fewer seeds would not do: on the demo's 360 test samples
the two paths differ by about a point either way from seed to seed (their float sums run
in another order, and training amplifies that), so the mean of three differences still
strays past a point now and then; the mean of six stays within half a point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

METRICS = Path("data/08_reporting/metrics.json")
TOLERANCE = 0.01
STAGES = "--pipelines=training,evaluation"
SEEDS = (42, 43, 44, 45, 46, 47)


def run(command: list[str]) -> tuple[float, float]:
    """Run a command; the test accuracy it reported and its wall time."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    latest = sorted(METRICS.iterdir())[-1]
    return json.loads((latest / "metrics.json").read_text())["accuracy"], seconds


def main() -> int:
    singles, rankeds = [], []
    for seed in SEEDS:
        kedro_run = ["-m", "kedro", "run", STAGES, f"--params=seed={seed}"]
        single, single_s = run([sys.executable, *kedro_run])
        ranks, ranks_s = run([sys.executable, "-m", "torch.distributed.run",
                              "--nproc_per_node=2", *kedro_run])
        print(f"seed {seed}: single process {single:.4f} in {single_s:.0f} s, "
              f"torchrun 2 ranks {ranks:.4f} in {ranks_s:.0f} s")
        singles.append(single)
        rankeds.append(ranks)
    single, ranks = sum(singles) / len(SEEDS), sum(rankeds) / len(SEEDS)
    gap = abs(single - ranks)
    print(f"mean: single process {single:.4f}, torchrun 2 ranks {ranks:.4f}, "
          f"gap {gap:.4f} (allowed {TOLERANCE})")
    return 0 if gap <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
