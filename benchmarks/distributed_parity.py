"""Does `torchrun --nproc_per_node=2` train the demo as well as a single process?

Run from the project's root, after `kedro run --pipeline=train` has built the features:

    python benchmarks/distributed_parity.py

It trains and evaluates once in one process and once under torchrun with two CPU ranks
(gloo), prints both test accuracies, and exits 1 if they differ by more than one point.
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


def run(command: list[str]) -> tuple[float, float]:
    """Run a command; the test accuracy it reported and its wall time."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    latest = sorted(METRICS.iterdir())[-1]
    return json.loads((latest / "metrics.json").read_text())["accuracy"], seconds


def main() -> int:
    single, single_s = run([sys.executable, "-m", "kedro", "run", STAGES])
    ranks, ranks_s = run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          "-m", "kedro", "run", STAGES])
    gap = abs(single - ranks)
    print(f"single process: accuracy {single:.4f} in {single_s:.0f} s")
    print(f"torchrun, 2 ranks: accuracy {ranks:.4f} in {ranks_s:.0f} s")
    print(f"gap {gap:.4f} (allowed {TOLERANCE})")
    return 0 if gap <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
