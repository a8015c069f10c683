"""The benchmark suite: `compare` on the demo and on real public datasets, over seeds.

Run from the project's root with the project's environment:

    python benchmarks/suite.py              # every dataset, seeds 42, 43 and 44
    python benchmarks/suite.py --quick      # seed 42, a few strategies
    python benchmarks/suite.py --datasets tuxpaint --seeds 42 \\
        --set training.fit.weight_decay=0.01 --output /tmp/wd.json   # try a setting

Datasets, built once into --data (nothing in the product downloads data):
- `demo`: the embedded demo (`kedro run --pipelines=demo_data`);
- `avmnist_hard`: `../shared/datasets/avmnist_fsdd.py` (real MNIST digits and real spoken
  digits), made harder as MultiBench builds AV-MNIST: each image loses the leading
  principal components that carry 75% of the images' energy, and each clip is mixed with
  white noise at -10 dB SNR. As built, the set is too easy to tell strategies apart;
- `tuxpaint`: `../shared/datasets/tuxpaint_stamps.py` (real clip art, its English
  description, its recorded French description); needs `apt-get update` once.

Each (dataset, seed) runs the real `compare` pipeline through Kedro, in a project folder
of its own under --data, with the parameters of `conf/base` and the overrides given. The
JSON holds every leaderboard and, per dataset and strategy, the mean and spread of test
accuracy and macro-F1, the mean validation macro-F1 (what defaults are chosen on) and the
training time; the markdown tables go to stdout, and with --readme into
benchmarks/README.md between the suite markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
BUILDERS = REPO.parent / "shared" / "datasets"
DATASETS = ("demo", "avmnist_hard", "tuxpaint")
QUICK_STRATEGIES = ["concat", "gated", "late", "linear_early", "linear_late", "image_only",
                    "text_only", "audio_only"]
HARD_ENERGY, HARD_SNR_DB = 0.75, -10.0
MARKERS = ("<!-- suite:start -->", "<!-- suite:end -->")
QUIET_LOGGING = {"version": 1, "disable_existing_loggers": False,
                 "root": {"level": "WARNING", "handlers": ["console"]},
                 "handlers": {"console": {"class": "logging.StreamHandler"}}}


def harden_avmnist(source: Path, target: Path) -> None:
    """MultiBench's harder AV-MNIST from the plain one: images lose the principal components
    carrying `HARD_ENERGY` of their energy; clips are mixed with white noise."""
    import librosa
    import soundfile as sf
    from PIL import Image

    manifest = pd.read_csv(source / "manifest.csv", dtype=str, keep_default_na=False)
    pixels = np.stack([np.asarray(Image.open(source / p), dtype=np.float64).ravel()
                       for p in manifest["image"]])
    centred = pixels - pixels.mean(axis=0)
    _, spread, axes = np.linalg.svd(centred, full_matrices=False)
    kept_energy = np.cumsum(spread**2) / np.sum(spread**2)
    leading = axes[:int(np.searchsorted(kept_energy, HARD_ENERGY)) + 1]
    residual = centred - centred @ leading.T @ leading
    low, high = np.percentile(residual, [0.5, 99.5])  # 8 bits spent on the bulk, not outliers
    scaled = np.clip((residual - low) / (high - low), 0.0, 1.0) * 255
    rng = np.random.default_rng(0)
    for folder in ("images", "audio"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    for row, image in zip(manifest.itertuples(), scaled, strict=True):
        Image.fromarray(image.reshape(28, 28).round().astype(np.uint8), "L").save(
            target / row.image)
        wave, rate = librosa.load(source / row.audio, sr=None)
        noise = rng.normal(0.0, np.sqrt(np.mean(wave**2) / 10 ** (HARD_SNR_DB / 10)), wave.shape)
        mixed = wave + noise
        sf.write(target / row.audio, mixed / max(1.0, np.abs(mixed).max()), rate,
                 subtype="PCM_16")
    manifest.to_csv(target / "manifest.csv", index=False)


def make_project(folder: Path) -> Path:
    """A project folder with this repository's conf/base, so runs write under it."""
    shutil.rmtree(folder / "conf", ignore_errors=True)
    shutil.copytree(REPO / "conf" / "base", folder / "conf" / "base")
    (folder / "conf" / "local").mkdir()
    shutil.copy(REPO / "pyproject.toml", folder / "pyproject.toml")
    (folder / "src").mkdir(exist_ok=True)
    return folder


def run_kedro(project: Path, pipeline: str, params: dict) -> None:
    """A pipeline of the real project, in its own process so each run starts clean."""
    code = ("import json, sys\n"
            "from kedro.framework.session import KedroSession\n"
            "from kedro.framework.startup import bootstrap_project\n"
            "project, pipeline, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
            "bootstrap_project(project)\n"
            "with KedroSession.create(project_path=project, runtime_params=params) as s:\n"
            "    s.run(pipeline_names=[pipeline])\n")
    logging_config = project / "logging.yml"
    logging_config.write_text(yaml.safe_dump(QUIET_LOGGING))
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true",
           "KEDRO_LOGGING_CONFIG": str(logging_config)}
    done = subprocess.run([sys.executable, "-c", code, str(project), pipeline, json.dumps(params)],
                          env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{pipeline} failed in {project}:\n{done.stderr[-4000:]}")


def build_dataset(name: str, data: Path) -> Path:
    """The dataset's manifest, built first if it is not there yet."""
    if name == "demo":
        project = make_project(data / "projects" / "demo")
        manifest = project / "data" / "01_raw" / "demo" / "manifest.csv"
        if not manifest.is_file():
            run_kedro(project, "demo_data", {})
        return manifest
    if name == "avmnist_hard":
        plain = data / "avmnist"
        if not (plain / "manifest.csv").is_file():
            subprocess.run([sys.executable, str(BUILDERS / "avmnist_fsdd.py"), str(plain)],
                           check=True)
        if not (data / name / "manifest.csv").is_file():
            harden_avmnist(plain, data / name)
        return data / name / "manifest.csv"
    if not (data / name / "manifest.csv").is_file():
        subprocess.run([sys.executable, str(BUILDERS / "tuxpaint_stamps.py"), str(data / name)],
                       check=True)
    return data / name / "manifest.csv"


def nested(assignments: list[str]) -> dict:
    """`a.b=1` strings as a nested dict, values read as YAML."""
    result: dict = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        *parents, leaf = key.split(".")
        place = result
        for parent in parents:
            place = place.setdefault(parent, {})
        place[leaf] = yaml.safe_load(value)
    return result


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` laid over it, nested dicts merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def run_compare(dataset: str, manifest: Path, seed: int, data: Path, strategies: list[str] | str,
                overrides: dict) -> tuple[list[dict], float]:
    """One `compare` run: its leaderboard rows and wall seconds."""
    project = make_project(data / "projects" / dataset)
    params = merged({"manifest": str(manifest), "seed": seed,
                     "extraction": {"cache": str(data / "cache" / dataset)},
                     "compare": {"strategies": strategies},
                     "training": {"fit": {"checkpoint_dir": None}}}, overrides)
    started = time.perf_counter()
    run_kedro(project, "compare", params)
    rows = latest_json(project, "data/08_reporting/leaderboard.json")
    return rows, time.perf_counter() - started


def latest_json(project: Path, relative: str) -> dict | list:
    """The newest version of a versioned JSON dataset of the project."""
    version = sorted((project / relative).iterdir())[-1]
    return json.loads((version / Path(relative).name).read_text())


def summarise(runs: list[dict]) -> dict:
    """Per dataset and strategy: mean and spread over seeds, and the best single modality."""
    summary: dict = {}
    for dataset in dict.fromkeys(run["dataset"] for run in runs):
        rows: dict[str, list[dict]] = {}
        for run in (r for r in runs if r["dataset"] == dataset):
            for row in run["leaderboard"]:
                if row["rank"] is not None:
                    rows.setdefault(row["strategy"], []).append(row)
        table = {}
        for strategy, seen in rows.items():
            figures = {k: [row[k] for row in seen] for k in
                       ("accuracy", "macro_f1", "val_macro_f1", "train_seconds")}
            table[strategy] = {
                "kind": seen[0]["kind"], "seeds": len(seen),
                **{f"{k}_mean": statistics.fmean(v) for k, v in figures.items()},
                **{f"{k}_sd": statistics.pstdev(v) for k, v in figures.items()
                   if k in ("accuracy", "macro_f1")},
            }
        singles = {s: t for s, t in table.items() if t["kind"] == "unimodal"}
        best = max(singles, key=lambda s: singles[s]["accuracy_mean"]) if singles else None
        summary[dataset] = {"strategies": table, "best_single_modality": best}
    return summary


def markdown(summary: dict) -> str:
    """One table per dataset, best mean test accuracy first."""
    lines = []
    for dataset, result in summary.items():
        lines += [f"**{dataset}** (best single modality: `{result['best_single_modality']}`)",
                  "",
                  "| strategy | kind | test accuracy | test macro-F1 | val macro-F1 | train s |",
                  "|---|---|---:|---:|---:|---:|"]
        ordered = sorted(result["strategies"].items(), key=lambda i: -i[1]["accuracy_mean"])
        for strategy, t in ordered:
            lines.append(
                f"| `{strategy}` | {t['kind']} | {t['accuracy_mean']:.3f} ± {t['accuracy_sd']:.3f}"
                f" | {t['macro_f1_mean']:.3f} ± {t['macro_f1_sd']:.3f} | "
                f"{t['val_macro_f1_mean']:.3f} | {t['train_seconds_mean']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def write_readme(content: str, markers: tuple[str, str] = MARKERS) -> None:
    """Put `content` into benchmarks/README.md between `markers` (at its end the first time)."""
    readme = REPO / "benchmarks" / "README.md"
    text = readme.read_text()
    start, end = markers
    block = f"{start}\n{content}\n{end}"
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def add_suite_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """The datasets, seeds and parameter overrides a benchmark over the suite runs;
    `example` is an override to show in the help."""
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help=f"parameter overrides, e.g. {example}")


def add_result_arguments(parser: argparse.ArgumentParser, output: str, data: str) -> None:
    """The options a benchmark writing a JSON and README tables shares with the others:
    where it builds its data (`data`, a folder in ~/.cache), where the JSON goes (`output`
    in benchmarks/), and printing a stored JSON's tables."""
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache" / data)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / output)
    parser.add_argument("--readme", action="store_true",
                        help="write the tables into benchmarks/README.md")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="run nothing: the tables of a JSON this script wrote")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed 42 and a few strategies")
    add_suite_arguments(parser, "training.fit.weight_decay=0.01")
    parser.add_argument("--strategies", nargs="+", default=None,
                        help="strategies to train (default: all; --quick: a few)")
    add_result_arguments(parser, "suite.json", "multimodal-fusion-suite")
    args = parser.parse_args()
    if args.report:
        report(json.loads(args.report.read_text()), args.readme)
        return
    seeds = args.seeds[:1] if args.quick else args.seeds
    strategies = args.strategies or (QUICK_STRATEGIES if args.quick else "all")
    overrides = nested(args.set)
    started = time.perf_counter()
    runs = []
    for dataset in args.datasets:
        manifest = build_dataset(dataset, args.data)
        for seed in seeds:
            rows, seconds = run_compare(dataset, manifest, seed, args.data, strategies,
                                        overrides)
            runs.append({"dataset": dataset, "seed": seed, "seconds": seconds,
                         "leaderboard": rows})
            best = next(row for row in rows if row["rank"] == 1)
            print(f"{dataset} seed {seed}: {seconds:.0f} s, best {best['strategy']} "
                  f"{best['accuracy']:.3f}", flush=True)
    summary = summarise(runs)
    minutes = (time.perf_counter() - started) / 60
    result = {"seeds": seeds, "strategies": strategies, "overrides": overrides,
              "minutes": minutes, "machine": {"cores": os.cpu_count(),
                                              "python": platform.python_version()},
              "summary": summary, "runs": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1))
    print(f"{minutes:.1f} minutes; {args.output}")
    report(result, args.readme)


def report(result: dict, readme: bool) -> None:
    """Print the tables; with `readme`, put them into benchmarks/README.md too."""
    table = markdown(result["summary"])
    print(table)
    if readme:
        header = (f"Seeds {', '.join(map(str, result['seeds']))}; test figures are mean ± "
                  f"spread over seeds; {result['minutes']:.0f} minutes on "
                  f"{result['machine']['cores']} cores.")
        write_readme(f"{header}\n\n{table}")


if __name__ == "__main__":
    main()
