"""Train every strategy of `compare` on a CUDA GPU with bf16: throughput and GPU utilisation.

Run from the project's root, after `kedro run --pipeline=train` has written the model
inputs (`data/05_model_input/model_inputs.npz`):

    python benchmarks/gpu_compare.py                      # CUDA, bf16, every strategy
    python benchmarks/gpu_compare.py --device cpu --mixed-precision off --max-epochs 2

Each strategy trains through `train_on_inputs`, the function the `compare` pipeline's
nodes call, with the training parameters of `conf/base`; Kedro itself is not needed, so
the script runs on a GPU machine that holds only PyTorch and the scientific stack. After
one untimed epoch (CUDA's start-up), it samples `nvidia-smi` every 200 ms and prints, per
strategy, test accuracy, epochs, training seconds (the epochs' own, as the leaderboard
counts them) and training samples per second (training samples x epochs / seconds), then
the GPU's mean and peak utilisation and peak memory. `--cpu-baseline concat` also trains
that strategy on the CPU in the same command, for a speed ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from sklearn.metrics import f1_score

# The GPU machine cannot pip-install the project: import it from the source tree.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from multimodal_fusion.fusion import STRATEGY_NAMES  # noqa: E402
from multimodal_fusion.models.inputs import batch_for_split  # noqa: E402
from multimodal_fusion.models.predict import predict_proba  # noqa: E402
from multimodal_fusion.training.engine import train_on_inputs  # noqa: E402

INPUTS = Path("data/05_model_input/model_inputs.npz")
PARAMETERS = Path("conf/base/parameters_training.yml")


def load_inputs(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        sys.exit(f"{path} is missing: run `kedro run --pipeline=train` first, here or on a "
                 f"machine with the same data, and copy the file along")
    with np.load(path, allow_pickle=False) as archive:
        return dict(archive)


def train_and_score(inputs: dict, settings: dict, seed: int, strategy: str,
                    device: str, precision: str) -> dict:
    """One strategy trained as `compare` trains it, on `device`; its test figures and speed."""
    fit = {**settings["fit"], "device": device, "mixed_precision": precision,
           "checkpoint_dir": None}
    chosen = {**settings, "model": {**settings["model"], "fusion": strategy}, "fit": fit}
    model, history = train_on_inputs(inputs, chosen, seed)
    seconds = sum(epoch["seconds"] for epoch in history)
    test = batch_for_split(inputs, "test", model.spec)
    predicted = predict_proba(model, test).argmax(axis=1)
    labels = test.labels.numpy()
    train_size = int((inputs["split"] == "train").sum())
    return {"strategy": strategy, "device": device, "precision": precision,
            "accuracy": float((predicted == labels).mean()),
            "macro_f1": float(f1_score(labels, predicted, average="macro")),
            "epochs": len(history), "train_seconds": seconds,
            "samples_per_second": train_size * len(history) / seconds}


def start_sampler() -> subprocess.Popen | None:
    if shutil.which("nvidia-smi") is None:
        print("nvidia-smi not found: no utilisation figures")
        return None
    return subprocess.Popen(
        ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
         "-lms", "200"], stdout=subprocess.PIPE, text=True,
    )


def utilisation(sampler: subprocess.Popen) -> dict:
    sampler.terminate()
    samples = [line.split(",") for line in sampler.communicate()[0].splitlines() if line]
    busy = [float(u) for u, _ in samples]
    memory = [float(m) for _, m in samples]
    return {"samples": len(samples), "mean_percent": statistics.mean(busy),
            "peak_percent": max(busy), "peak_memory_mib": max(memory)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--mixed-precision", default="bf16", choices=["auto", "bf16", "off"])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGY_NAMES))
    parser.add_argument("--max-epochs", type=int, help="override training.fit.max_epochs")
    parser.add_argument("--cpu-baseline", metavar="STRATEGY",
                        help="also train this strategy on the CPU, for a speed ratio")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    inputs = load_inputs(INPUTS)
    settings = yaml.safe_load(PARAMETERS.read_text(encoding="utf-8"))["training"]
    if args.max_epochs:
        settings["fit"]["max_epochs"] = args.max_epochs
    warm_up = {**settings, "fit": {**settings["fit"], "max_epochs": 1}}
    train_and_score(inputs, warm_up, args.seed, args.strategies[0], args.device,
                    args.mixed_precision)
    sampler = start_sampler()
    rows = []
    try:
        for strategy in args.strategies:
            rows.append(train_and_score(inputs, settings, args.seed, strategy, args.device,
                                        args.mixed_precision))
            row = rows[-1]
            print(f"{strategy:14s} acc {row['accuracy']:.3f}  F1 {row['macro_f1']:.3f}  "
                  f"{row['epochs']:3d} epochs  {row['train_seconds']:6.1f} s  "
                  f"{row['samples_per_second']:8.0f} samples/s", flush=True)
    finally:
        gpu = utilisation(sampler) if sampler else None
    result = {"rows": rows, "gpu": gpu}
    if gpu:
        print(f"GPU utilisation: mean {gpu['mean_percent']:.0f}%, peak {gpu['peak_percent']:.0f}%;"
              f" memory peak {gpu['peak_memory_mib']:.0f} MiB ({gpu['samples']} samples)")
    if args.cpu_baseline:
        cpu = train_and_score(inputs, settings, args.seed, args.cpu_baseline, "cpu", "off")
        fast = next(r for r in rows if r["strategy"] == args.cpu_baseline)
        result["cpu_baseline"] = cpu
        print(f"{args.cpu_baseline} on the CPU: {cpu['samples_per_second']:.0f} samples/s, "
              f"acc {cpu['accuracy']:.3f}; {args.device} is "
              f"{fast['samples_per_second'] / cpu['samples_per_second']:.1f}x faster")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
