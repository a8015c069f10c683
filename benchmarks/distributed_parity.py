"""Does `torchrun` with two ranks train the demo as well as a single process?

Run from the project's root, after `kedro run --pipelines=train` has built the features:

    python benchmarks/distributed_parity.py               # one node, two processes
    python benchmarks/distributed_parity.py --nodes 2     # two nodes of one process each

For each of six seeds it trains and evaluates once in one process and once under
torchrun with two CPU ranks (gloo), prints the test accuracies, and exits 1 if their means
differ by more than one point. With `--nodes 2` the two ranks are two torchrun launches on
this machine, as on two hosts (`--nnodes=2 --node_rank=0|1`, c10d rendezvous on a free
localhost port), sharing this project folder as real nodes would share its `data/`.
Fewer seeds would not do: on the demo's 360 test samples
the two paths differ by about a point either way from seed to seed (their float sums run
in another order, and training amplifies that), so the mean of three differences still
strays past a point now and then; the mean of six stays within half a point.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

METRICS = Path("data/08_reporting/metrics.json")
TOLERANCE = 0.01
STAGES = "--pipelines=training,evaluation"
SEEDS = (42, 43, 44, 45, 46, 47)


def run(*commands: list[str]) -> tuple[float, float]:
    """Run commands at once; the test accuracy they reported and their wall time."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
                 for command in commands]
    if any(process.wait() for process in processes):
        sys.exit(f"{' '.join(commands[0])} failed")
    seconds = time.perf_counter() - started
    latest = sorted(METRICS.iterdir())[-1]
    return json.loads((latest / "metrics.json").read_text())["accuracy"], seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(nodes: int, kedro_run: list[str]) -> list[list[str]]:
    """The launches of two ranks: one node of two processes, or two nodes of one."""
    launcher = [sys.executable, "-m", "torch.distributed.run"]
    if nodes == 1:
        return [[*launcher, "--nproc_per_node=2", *kedro_run]]
    endpoint = f"127.0.0.1:{free_port()}"
    return [[*launcher, "--nnodes=2", f"--node_rank={rank}", "--nproc_per_node=1",
             "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}", "--rdzv_id=parity",
             *kedro_run] for rank in range(nodes)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=1)
    nodes = parser.parse_args().nodes
    singles, rankeds = [], []
    for seed in SEEDS:
        kedro_run = ["-m", "kedro", "run", STAGES, f"--params=seed={seed}"]
        single, single_s = run([sys.executable, *kedro_run])
        ranks, ranks_s = run(*torchrun(nodes, kedro_run))
        print(f"seed {seed}: single process {single:.4f} in {single_s:.0f} s, "
              f"torchrun 2 ranks on {nodes} node(s) {ranks:.4f} in {ranks_s:.0f} s")
        singles.append(single)
        rankeds.append(ranks)
    single, ranks = sum(singles) / len(SEEDS), sum(rankeds) / len(SEEDS)
    gap = abs(single - ranks)
    print(f"mean: single process {single:.4f}, torchrun 2 ranks {ranks:.4f}, "
          f"gap {gap:.4f} (allowed {TOLERANCE})")
    return 0 if gap <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
