"""Training speed on a GPU (or this machine's CPU): every strategy against a tight loop, the
engine at 20,000 training samples kept on the device and streamed from disk, CUDA against
the same machine's CPU, torch.compile, the frozen encoders, and what a step waits for.

Run from the project's root once `kedro run --pipelines=train` has written the model inputs
(`data/05_model_input/model_inputs.npz`), here or on the GPU machine:

    python benchmarks/gpu_compare.py --output gpu.json          # CUDA: under 5 minutes
    python benchmarks/gpu_compare.py --device cpu --output cpu.json

Only PyTorch, NumPy, pandas, scikit-learn and PyYAML are needed, with the project's source
tree (no Kedro): it trains through `training.strategies.train`, the function the pipelines
call, with the training parameters of `conf/base`. Parts:

- `strategies`: each strategy for `--epochs` epochs (no early stopping) at `batch_size:
  auto`; samples/s from the epochs after the first (CUDA's and the allocator's start-up),
  against the same model, loss and batches in a tight loop whose data already sits on the
  device and that never reads anything back (`tight_loop`): their ratio is the engine's
  efficiency. On CUDA, nvidia-smi's utilisation is sampled for both.
- `scale`: `concat` with the training split tiled 16 times (20,112 samples), batches of 64
  and 1,024, the data on the device, then streamed from an on-disk copy of the inputs.
- `versus_cpu` (CUDA only): `concat` trained in full with the defaults (early stopping) on
  CUDA and then on the CPU: wall seconds and samples/s.
- `compile`: `concat` eager against `training.fit.compile: true`, compile time apart.
- `waits`: per epoch, how many of the engine's calls made the host wait for the device
  (CUDA's sync debug mode), against the steps the epoch took.
- `frozen_encoders`: EfficientNet-Lite0 images/s and MiniLM texts/s (skipped where their
  pip packages are absent), in the batches the features stage uses and in larger ones.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

# The GPU machine need not install the project: import it from the source tree.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from multimodal_fusion.core.device import autocast, uses_bf16  # noqa: E402
from multimodal_fusion.core.npz import read_npz, write_npz  # noqa: E402
from multimodal_fusion.models.inputs import batch_for_split  # noqa: E402
from multimodal_fusion.training import engine  # noqa: E402
from multimodal_fusion.training.engine import training_loss  # noqa: E402
from multimodal_fusion.training.strategies import FUSION, build_model, of_kind, train  # noqa: E402

INPUTS = Path("data/05_model_input/model_inputs.npz")
PARAMETERS = Path("conf/base/parameters_training.yml")
TILE = 16


def load_inputs(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        sys.exit(f"{path} is missing: run `kedro run --pipelines=train` first, here or on a "
                 f"machine with the same data, and copy the file along")
    return read_npz(path)


def tiled(inputs: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """The inputs with the training split repeated `k` times (val and test as they were)."""
    if k == 1:
        return inputs
    train = inputs["split"] == "train"
    out = {key: np.concatenate([v[train]] * k + [v[~train]])
           if v.ndim and len(v) == len(train) else v for key, v in inputs.items()}
    out["sample_id"] = np.array([f"s{i}" for i in range(len(out["split"]))])
    return out


def settings_for(base: dict, strategy: str, device: str, **fit: object) -> dict:
    """The project's training settings for one strategy on `device`, checkpoints off."""
    return {**base, "model": {**base["model"], "fusion": strategy},
            "fit": {**base["fit"], "device": device, "checkpoint_dir": None, **fit}}


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Utilisation:
    """nvidia-smi's GPU utilisation and memory, sampled every 100 ms while in use."""

    def __enter__(self) -> Utilisation:
        self.result = None
        self.process = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits", "-lms", "100"], stdout=subprocess.PIPE,
            text=True) if shutil.which("nvidia-smi") and torch.cuda.is_available() else None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        self.process.terminate()
        rows = [line.split(",") for line in self.process.communicate()[0].splitlines()
                if line.strip()]
        busy = [float(u) for u, _ in rows] or [0.0]
        self.result = {"mean_percent": round(statistics.mean(busy), 1),
                       "peak_percent": max(busy),
                       "peak_memory_mib": max([float(m) for _, m in rows] or [0.0])}


def engine_run(inputs: dict, settings: dict) -> dict:
    """`training.strategies.train` for the settings' epochs: samples/s after the first epoch (which
    holds CUDA's start-up, and torch.compile's compilation where it is on)."""
    started = time.perf_counter()
    with Utilisation() as gpu:
        model, history = train(inputs, settings, 42)
    wall = time.perf_counter() - started
    samples = int((inputs["split"] == "train").sum())
    timed = history[1:] or history
    return {"model": model, "epochs": len(history), "wall_seconds": round(wall, 2),
            "first_epoch_seconds": history[0]["seconds"],
            "samples_per_second": samples * len(timed) / sum(e["seconds"] for e in timed),
            "batch_size": model.spec["trained_with"]["batch_size"],
            "val_macro_f1": max(e["val_macro_f1"] for e in history), "gpu": gpu.result}


def tight_loop(spec: dict, inputs: dict, batch_size: int, epochs: int,
               device: torch.device) -> dict:
    """The reachable speed for this model: its loss and AdamW over the training split
    already on the device, in random batches, nothing read back until the end."""
    model = build_model(spec).to(device).train()
    data = batch_for_split(inputs, "train", spec).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    bf16 = uses_bf16(device, "auto")
    with Utilisation() as gpu:
        for epoch in range(epochs + 1):  # the first is warm-up, untimed
            if epoch == 1:
                synchronise(device)
                started = time.perf_counter()
            for index in torch.randperm(len(data), device=device).split(batch_size):
                optimiser.zero_grad(set_to_none=True)
                with autocast(device, bf16):
                    loss = training_loss(model, data.select(index), 1.0)
                loss.backward()
                optimiser.step()
        synchronise(device)
    seconds = time.perf_counter() - started
    return {"samples_per_second": len(data) * epochs / seconds, "gpu": gpu.result}


def compared(inputs: dict, base: dict, strategy: str, device: torch.device, epochs: int,
             **fit: object) -> dict:
    """The engine against the tight loop for one strategy and batch size."""
    settings = settings_for(base, strategy, str(device), max_epochs=epochs + 1,
                            patience=epochs + 1, **fit)
    run = engine_run(inputs, settings)
    tight = tight_loop(run.pop("model").spec, inputs, run["batch_size"], epochs, device)
    return {"strategy": strategy, **run, "tight_samples_per_second": tight["samples_per_second"],
            "tight_gpu": tight["gpu"],
            "engine_over_tight": run["samples_per_second"] / tight["samples_per_second"]}


def strategies(inputs: dict, base: dict, device: torch.device, epochs: int,
               names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        rows.append(compared(inputs, base, name, device, epochs))
        row = rows[-1]
        print(f"{name:14s} batch {row['batch_size']:4d}  engine {row['samples_per_second']:9.0f}"
              f"  tight {row['tight_samples_per_second']:9.0f} samples/s  "
              f"ratio {row['engine_over_tight']:.2f}", flush=True)
    return rows


def scale(inputs: dict, base: dict, device: torch.device, epochs: int,
          batch_sizes: list[int]) -> list[dict]:
    """`concat` at 16 times the training split: on the device, then streamed from disk."""
    big = tiled(inputs, TILE)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_npz(Path(folder) / "model_inputs.npz", big)
        on_disk = read_npz(Path(folder) / "model_inputs.npz", map_from=0)
        for placement, data in (("device", big), ("stream", on_disk)):
            for batch in batch_sizes:
                row = compared(data, base, "concat", device, epochs, batch_size=batch,
                               data_placement=placement)
                rows.append({"placement": placement, "train_samples":
                             int((big["split"] == "train").sum()), **row})
                print(f"x{TILE} {placement:6s} batch {batch:5d}  engine "
                      f"{row['samples_per_second']:9.0f}  tight "
                      f"{row['tight_samples_per_second']:9.0f}  ratio "
                      f"{row['engine_over_tight']:.2f}", flush=True)
    return rows


def versus_cpu(inputs: dict, base: dict, device: torch.device) -> dict:
    """`concat` with the defaults, early stopping included, on `device` and on the CPU."""
    result = {}
    for where in (str(device), "cpu"):
        run = engine_run(inputs, settings_for(base, "concat", where))
        run.pop("model")
        result[where] = run
    result["speed_ratio"] = (result[str(device)]["samples_per_second"]
                             / result["cpu"]["samples_per_second"])
    result["wall_ratio"] = result["cpu"]["wall_seconds"] / result[str(device)]["wall_seconds"]
    print(f"concat, defaults: {device} {result[str(device)]['samples_per_second']:.0f} samples/s"
          f", cpu {result['cpu']['samples_per_second']:.0f}: {result['speed_ratio']:.1f}x; "
          f"wall {result['wall_ratio']:.1f}x", flush=True)
    return result


def compile_speed(inputs: dict, base: dict, device: torch.device, epochs: int) -> dict:
    """`concat` eager and compiled; the compiled run's first epoch holds the compilation."""
    result = {}
    for compiled in (False, True):
        run = engine_run(inputs, settings_for(base, "concat", str(device), max_epochs=epochs + 1,
                                              patience=epochs + 1, compile=compiled))
        run.pop("model")
        result["compiled" if compiled else "eager"] = run
    result["speedup_after_compiling"] = (result["compiled"]["samples_per_second"]
                                         / result["eager"]["samples_per_second"])
    print(f"torch.compile: {result['speedup_after_compiling']:.2f}x the eager samples/s once "
          f"compiled; its first epoch {result['compiled']['first_epoch_seconds']:.1f} s",
          flush=True)
    return result


def waits(inputs: dict, base: dict, device: torch.device) -> dict | None:
    """How many times per epoch the engine made the host wait for the device."""
    if device.type != "cuda":
        return None
    counts, steps = [], []
    real_epoch = engine.TrainingRun.train_epoch

    def counted_epoch(self, train, epoch):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                loss = real_epoch(self, train, epoch)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts.append(sum("synchroniz" in str(w.message) for w in seen))
        steps.append(-(-len(train) // self.settings.batch_size))
        return loss

    engine.TrainingRun.train_epoch = counted_epoch
    try:
        train(inputs, settings_for(base, "concat", str(device), max_epochs=3,
                                             patience=3), 42)
    finally:
        engine.TrainingRun.train_epoch = real_epoch
    print(f"host waits per epoch {counts}, steps per epoch {steps}", flush=True)
    return {"waits_per_epoch": counts, "steps_per_epoch": steps}


def frozen_encoders(device: torch.device) -> dict:
    """Images/s of EfficientNet-Lite0 and texts/s of MiniLM on `device`, by batch size."""
    result = {}
    try:
        from multimodal_fusion.modalities.image import load_efficientnet_lite0
        network = load_efficientnet_lite0().to(device)
    except ImportError as error:
        result["efficientnet_lite0"] = f"skipped: {error}"
    else:
        images = torch.randn(1024, 3, 96, 96, device=device)
        result["efficientnet_lite0"] = {
            str(size): rate(lambda part: network.extract_features(part).mean(dim=(2, 3)),
                            images, size, device) for size in (64, 256, 1024)}
    try:
        from multimodal_fusion.modalities.text import load_minilm
        tokenizer, model = load_minilm()
    except ImportError as error:
        result["minilm"] = f"skipped: {error}"
    else:
        model = model.to(device)
        tokens = tokenizer(["a short sentence that names the digit seven, with a typo"] * 1024,
                           padding="max_length", truncation=True, max_length=64,
                           return_tensors="pt").to(device)
        result["minilm"] = {str(size): rate(
            lambda part, t=tokens: model(**{k: v[:len(part)] for k, v in t.items()}),
            tokens["input_ids"], size, device) for size in (64, 256, 1024)}
    print(f"frozen encoders: {json.dumps(result)}", flush=True)
    return result


@torch.no_grad()
def rate(forward, items: torch.Tensor, batch_size: int, device: torch.device) -> float:
    """Items/s of `forward` over `items` in batches, bf16 where the device has it."""
    bf16 = uses_bf16(device, "auto")
    for _ in range(2):  # the first pass warms up; the second is timed
        synchronise(device)
        started = time.perf_counter()
        for part in items.split(batch_size):
            with autocast(device, bf16):
                forward(part)
        synchronise(device)
    return round(len(items) / (time.perf_counter() - started), 1)


PARTS = ("strategies", "scale", "versus_cpu", "compile", "waits", "frozen_encoders")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--strategies", nargs="+", default=of_kind(FUSION),
                        help="fusion strategies (default: all of them; auto and the linear "
                             "references train no network of their own)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 1024])
    parser.add_argument("--inputs", type=Path, default=INPUTS)
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    device = torch.device(args.device)
    inputs = load_inputs(args.inputs)
    base = yaml.safe_load(PARAMETERS.read_text(encoding="utf-8"))["training"]
    base["model"]["fusion"] = "concat"  # the preset's strategy, resolved by Kedro elsewhere
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda"
              else platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "parameters": str(PARAMETERS)}
    started = time.perf_counter()
    runs = {"strategies": lambda: strategies(inputs, base, device, args.epochs, args.strategies),
            "scale": lambda: scale(inputs, base, device, 2, args.batch_sizes),
            "versus_cpu": lambda: versus_cpu(inputs, base, device) if device.type != "cpu"
            else None,
            "compile": lambda: compile_speed(inputs, base, device, args.epochs),
            "waits": lambda: waits(inputs, base, device),
            "frozen_encoders": lambda: frozen_encoders(device)}
    for part in args.parts:
        result[part] = runs[part]()
    result["seconds"] = time.perf_counter() - started
    print(f"{result['seconds']:.0f} s in all", flush=True)
    if args.output:
        args.output.write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
