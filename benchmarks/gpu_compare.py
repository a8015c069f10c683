"""Run `compare` on a CUDA GPU with bf16 and report training throughput and GPU utilisation.

Run from the project's root on a machine with an NVIDIA GPU, after `pip install -e .`:

    python benchmarks/gpu_compare.py

It builds the demo if needed, runs `kedro run --pipeline=compare` with
`training.fit.device=cuda` and `training.fit.mixed_precision=bf16` while sampling
`nvidia-smi` every 200 ms, then prints, per strategy, training samples per second (training
samples x epochs / training seconds) and the GPU's mean and peak utilisation over the run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd

LEADERBOARD = Path("data/08_reporting/leaderboard.json")
SPLIT = Path("data/03_primary/split_manifest.parquet")


def main() -> int:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    sampler = subprocess.Popen(
        ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
         "-lms", "200"], stdout=subprocess.PIPE, text=True,
    )
    try:
        subprocess.run(
            [sys.executable, "-m", "kedro", "run", "--pipelines=compare",
             "--params=training.fit.device=cuda,training.fit.mixed_precision=bf16"],
            check=True, env=env,
        )
    finally:
        sampler.terminate()
    samples = [line.split(",") for line in sampler.communicate()[0].splitlines() if line]
    utilisation = [float(u) for u, _ in samples]
    memory = [float(m) for _, m in samples]
    train_size = int((pd.read_parquet(SPLIT)["split"] == "train").sum())
    rows = json.loads((sorted(LEADERBOARD.iterdir())[-1] / "leaderboard.json").read_text())
    print(f"{'strategy':14s} {'macro-F1':>8s} {'epochs':>6s} {'train s':>8s} {'samples/s':>10s}")
    for row in rows:
        rate = train_size * row["epochs"] / row["train_seconds"]
        print(f"{row['strategy']:14s} {row['macro_f1']:8.3f} {row['epochs']:6d} "
              f"{row['train_seconds']:8.1f} {rate:10.0f}")
    print(f"GPU utilisation: mean {statistics.mean(utilisation):.0f}%, peak "
          f"{max(utilisation):.0f}%; memory peak {max(memory):.0f} MiB "
          f"({len(samples)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
