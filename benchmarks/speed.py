"""The speed and memory suite: one command, writing a JSON and its tables into
benchmarks/README.md.

Run from the project's root with the project's environment:

    python benchmarks/speed.py                     # every part (about an hour on 2 cores)
    python benchmarks/speed.py --parts train overhead throughput --sizes 1 4
    python benchmarks/speed.py --report benchmarks/speed.json --readme   # tables only

Parts:
1. `train`: `kedro run --pipelines=train` on the demo, present and with its features
   cached: wall seconds and peak memory.
2. `overhead`: that run against the same library calls as a plain script
   (`benchmarks/overhead.py`), as fresh processes three times each: Kedro's overhead as
   the ratio of the medians.
3. `growth`: the demo at `--sizes` times its 1,797 samples, preprocessed at 32 and 96 px
   for the small CNN (preset `fast`, so the network trains on the pixels), training
   streamed from disk (`data_placement: stream`) for two epochs, the linear reference
   left out (`evaluation.reference: null`, so training is the fit alone); each stage
   (`data_preparation`, `features`, `training`, `evaluation`) a `kedro run` of its own,
   with its seconds and peak memory. The demo of each size is built once, untimed.
4. `scale`: the same stages past the growth rows (`SCALE`), with data placement `auto`:
   64 times the demo (115,008 samples) at 96 px with the `fast` preset, and 4 times at
   224 px with the default encoders (EfficientNet-Lite0 and MiniLM); then the linear
   reference that `train` fits beside the model (node `train_reference`, `linear_early`),
   as a row of its own so the training rows stay comparable with the growth rows.
5. `throughput`: `gpu_compare.py`'s engine against its tight loop for every strategy, on
   the CPU and, where there is one, on CUDA.

Each stage's seconds are given twice too: the whole command's, and the runner's own
(Kedro's "Pipeline execution completed successfully in ..."), which leaves out the
process's start (imports, session, catalog: about 9 s here, the same for every stage).
Peak memory is given twice: the largest resident set of the command's processes (what
`/usr/bin/time` reports), and the proportional set size of the whole process tree (the
command and its workers, shared pages counted once), sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from suite import add_result_arguments, make_project, write_readme  # noqa: E402

DEMO_SAMPLES = 1797
STAGES = ("data_preparation", "features", "training", "evaluation")
PARTS = ("train", "overhead", "growth", "scale", "throughput")
# The runs past the growth rows: (times the demo, px, preset). 64x with the small CNN and
# TF-IDF (`fast`) takes about an hour here; 4x at 224 px with the default encoders.
SCALE = ((64, 96, "fast"), (4, 224, "default"))
MARKERS = ("<!-- speed:start -->", "<!-- speed:end -->")
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
# Kedro's last line gives the runner's own seconds: the stage less the process's start
# (imports, session, catalog), which every stage pays alike.
RUNNER_SECONDS = re.compile(r"Pipeline execution completed\s+(?:\S+\.py:\d+\s+)?"
                            r"successfully in ([\d.]+) sec")


def tree_pss_mb(pid: int) -> float:
    """The proportional set size of a process and all its descendants, in MB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += next(int(line.split()[1]) for line in rollup.splitlines()
                          if line.startswith("Pss:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue  # the process ended while being read
    return total / 1024


def measured(command: list[str], cwd: Path = REPO) -> dict:
    """Run `command`: its wall seconds and peak memory; it must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    peak = {"pss": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak["pss"] = max(peak["pss"], tree_pss_mb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{output[-4000:]}")
    runner = RUNNER_SECONDS.search(output)
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "peak_pss_mb": round(peak["pss"]), "runner_seconds": runner and float(runner[1])}


def kedro(pipeline: str, params: dict | None = None, nodes: str | None = None) -> list[str]:
    """A `kedro run` command line, with runtime parameters."""
    command = [sys.executable, "-m", "kedro", "run", f"--pipelines={pipeline}"]
    if nodes:
        command.append(f"--nodes={nodes}")
    if params:
        command.append("--params=" + ",".join(f"{k}={v}" for k, v in params.items()))
    return command


def train_part() -> dict:
    """The main job on the demo, with its demo and features in place from a first run."""
    measured(kedro("train"))
    result = measured(kedro("train"))
    print(f"kedro run --pipelines=train: {result}", flush=True)
    return result


def overhead_part(repeats: int) -> dict:
    """Kedro against the plain script (`overhead.py`), `repeats` fresh processes each."""
    kedro_runs, plain_runs = [], []
    for _ in range(repeats):
        kedro_runs.append(measured(kedro("train")))
        plain_runs.append(measured([sys.executable, str(REPO / "benchmarks" / "overhead.py")]))
    ratio = (statistics.median(r["seconds"] for r in kedro_runs)
             / statistics.median(r["seconds"] for r in plain_runs))
    print(f"Kedro overhead {ratio:.3f}x: kedro {[r['seconds'] for r in kedro_runs]} s, plain "
          f"{[r['seconds'] for r in plain_runs]} s", flush=True)
    return {"kedro": kedro_runs, "plain": plain_runs, "ratio": ratio}


def growth_part(data: Path, sizes: list[int], image_sizes: list[int], epochs: int) -> list[dict]:
    """Every stage at every size: seconds and peak memory, training streamed."""
    return [row for size in sizes for pixels in image_sizes
            for row in stage_rows(data, size, pixels, epochs, "fast", "stream")]


def scale_part(data: Path, epochs: int) -> list[dict]:
    """Every stage of the `SCALE` runs: seconds and peak memory, data placement `auto`."""
    return [row for size, pixels, preset in SCALE
            for row in stage_rows(data, size, pixels, epochs, preset, "auto", reference=True)]


def stage_rows(data: Path, size: int, pixels: int, epochs: int, preset: str,
               placement: str, reference: bool = False) -> list[dict]:
    """Each stage of `train` as a `kedro run` of its own on the demo at `size` times its
    samples, images preprocessed at `pixels`, and with `reference` the linear reference
    after them; the demo is built once, untimed."""
    project = make_project(data / f"{size}x")
    if not (project / "data" / "01_raw" / "demo" / "manifest.csv").is_file():
        subprocess.run(kedro("demo_data", {"demo_data.n_samples": DEMO_SAMPLES * size}),
                       cwd=project, env=ENV, check=True, capture_output=True)
    params = {"preset": preset, "image.preprocessing.size": pixels,
              "extraction.cache": data / "cache" / f"{size}x",
              "training.fit.data_placement": placement,
              "training.fit.max_epochs": epochs, "training.fit.patience": epochs,
              "evaluation.reference": "null"}
    commands = {stage: kedro(stage, params) for stage in STAGES}
    if reference:
        commands["training: linear reference"] = kedro(
            "training", params | {"evaluation.reference": "linear_early"},
            "training.train_reference")
    rows = []
    for stage, command in commands.items():
        result = measured(command, cwd=project)
        rows.append({"size": size, "samples": DEMO_SAMPLES * size, "pixels": pixels,
                     "preset": preset, "stage": stage, **result})
        print(f"x{size} {pixels} px {preset} {stage}: {result}", flush=True)
    return rows


def throughput_part() -> dict:
    """Engine against tight loop per strategy: on the CPU, and on CUDA where there is one."""
    import torch

    result = {}
    with tempfile.TemporaryDirectory() as folder:
        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            output = Path(folder) / f"throughput-{device}.json"
            subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_compare.py"),
                            "--device", device, "--parts", "strategies", "--output",
                            str(output)], cwd=REPO, env=ENV, check=True)
            result[device] = json.loads(output.read_text())
    return result


def markdown(result: dict) -> str:
    """The tables of a result, for benchmarks/README.md."""
    lines = [f"Measured on {result['machine']}, {result['date']}; {result['minutes']:.0f} "
             "minutes in all.", ""]
    if "train" in result:
        train = result["train"]
        lines += [f"- `kedro run --pipelines=train` (demo present, features cached): "
                  f"{train['seconds']} s wall, peak {train['peak_rss_mb']} MB resident "
                  f"(largest process), {train['peak_pss_mb']} MB for the process tree.", ""]
    for key, label in (("overhead", "Kedro's overhead, `mlflow` extra installed"),
                       ("overhead_without_mlflow",
                        "Kedro's overhead without the extra (the Quickstart's install)")):
        if key in result:
            runs = result[key]
            lines += [f"- {label}: `kedro run --pipelines=train` "
                      f"{', '.join(str(r['seconds']) for r in runs['kedro'])} s against the "
                      f"plain script's {', '.join(str(r['seconds']) for r in runs['plain'])} s:"
                      f" **{runs['ratio']:.2f}x** (ratio of medians).", ""]
    for part in ("growth", "scale"):
        if part not in result:
            continue
        lines += ["| samples | px | preset | stage | seconds | runner seconds | peak MB (largest "
                  "process) | peak MB (process tree) |", "|---:|---:|---|---|---:|---:|---:|---:|"]
        lines += [f"| {r['samples']:,} | {r['pixels']} | {r.get('preset', 'fast')} | "
                  f"{r['stage']} | {r['seconds']} | {r.get('runner_seconds') or '-'} | "
                  f"{r['peak_rss_mb']:,} | {r['peak_pss_mb']:,} |" for r in result[part]]
        lines.append("")
    for device, run in result.get("throughput", {}).items():
        lines += [f"Throughput on {device} ({run['device']}, {run['threads']} threads): "
                  "training samples/s of the engine against the tight loop",
                  "", "| strategy | batch | engine | tight loop | engine / tight |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| `{r['strategy']}` | {r['batch_size']} | {r['samples_per_second']:,.0f} | "
                  f"{r['tight_samples_per_second']:,.0f} | {r['engine_over_tight']:.2f} |"
                  for r in run["strategies"]]
        lines += [f"| `concat`, {r['train_samples']:,} train samples, {r['placement']} | "
                  f"{r['batch_size']} | {r['samples_per_second']:,.0f} | "
                  f"{r['tight_samples_per_second']:,.0f} | {r['engine_over_tight']:.2f} |"
                  for r in run.get("scale") or []]
        lines.append("")
        if run.get("compile"):
            compiled = run["compile"]
            lines += [f"`torch.compile` on {device} (`concat`): "
                      f"{compiled['speedup_after_compiling']:.2f}x the eager samples/s once "
                      f"compiled, its first epoch {compiled['compiled']['first_epoch_seconds']:.1f}"
                      f" s against {compiled['eager']['first_epoch_seconds']:.1f} s eager.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--repeats", type=int, default=3, help="overhead: runs of each")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--image-sizes", nargs="+", type=int, default=[32, 96])
    parser.add_argument("--epochs", type=int, default=2, help="growth: training epochs")
    add_result_arguments(parser, "speed.json", "multimodal-fusion-growth")
    args = parser.parse_args()
    if args.report:
        result = json.loads(args.report.read_text())
    else:
        started = time.perf_counter()
        result = {"machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"
                             f", Python {platform.python_version()}",
                  "date": time.strftime("%Y-%m-%d")}
        runs = {"train": train_part, "overhead": lambda: overhead_part(args.repeats),
                "growth": lambda: growth_part(args.data, args.sizes, args.image_sizes,
                                              args.epochs),
                "scale": lambda: scale_part(args.data, args.epochs),
                "throughput": throughput_part}
        for part in args.parts:
            result[part] = runs[part]()
        result["minutes"] = (time.perf_counter() - started) / 60
        args.output.write_text(json.dumps(result, indent=1))
    table = markdown(result)
    print(table)
    if args.readme:
        write_readme(table, MARKERS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
