"""The hyperparameter search and what it keeps, against the default and the linear references.

Run from the project's root with the project's environment:

    python benchmarks/search.py                                  # every dataset, 42 to 44
    python benchmarks/search.py --datasets tuxpaint --trials 200 --timeout-minutes 9
    python benchmarks/search.py --report benchmarks/search.json --readme

Each (dataset, seed) runs the real `train` pipeline through Kedro with the `best` preset
(a search of --trials trials, starting no trial after --timeout-minutes of trials, then its
finalists cross-fitted and the ensemble of them chosen out of fold), in the suite's
project folder for that dataset with the suite's feature cache. The study's first trial is
the default settings trained as `train` trains them, so one run gives, on validation (what
is chosen on: out of fold for the cross-fitted ones) and on test (for the record): the
default (trial 0); the search's best trial and the ensemble of its trials, both chosen on
the validation split (today's rule); the bag of the default's fold models; the bag of the
finalist best out of fold; the ensemble chosen out of fold (the run's model); and
`linear_early` and `linear_late` trained on the same split. The trials' and folds' models
come from the search's stores, so nothing is trained twice. The JSON is written after
every run, so a run cut short keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
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

MARKERS = ("<!-- search:start -->", "<!-- search:end -->")
CANDIDATES = ("default", "best_trial", "ensemble", "default_bag", "cv_best", "cv_ensemble",
              "linear_early", "linear_late")


def scores(project: Path, search: dict, seed: int, parameters: dict) -> dict[str, dict]:
    """Validation macro-F1 (out of fold for the cross-fitted ones) and test accuracy of
    each candidate but the run's model, their trainings taken from the search's stores
    (linear references trained: seconds)."""
    from multimodal_fusion.core.npz import read_npz
    from multimodal_fusion.models.inputs import batch_for_split, split_labels
    from multimodal_fusion.models.predict import predict_proba
    from multimodal_fusion.training.auto import with_fusion
    from multimodal_fusion.training.crossfit import bag_of_best, fold_stores
    from multimodal_fusion.training.ensemble import ensemble_of
    from multimodal_fusion.training.reuse import TrainingStore
    from multimodal_fusion.training.search import (
        CROSSFIT,
        TRAININGS,
        finalists,
        stands_for,
        trial_models,
        trial_name,
        trial_settings,
    )
    from multimodal_fusion.training.strategies import build_model, named, train

    inputs = read_npz(project / "data/05_model_input/model_inputs.npz")
    folder = Path(search["folder"])
    store = TrainingStore(folder / TRAININGS, build_model)
    settings = parameters["training"]
    rounds = settings["ensemble"]["rounds"]
    first = next(t for t in search["trials"] if stands_for(t) == 0)
    offered = finalists(search, settings)
    stores = fold_stores(folder / CROSSFIT, search["folds"], build_model)
    bag = named("ensemble").model
    trained = {
        "default": train(inputs, trial_settings(settings, first["params"]), seed, store),
        "best_trial": train(inputs, search["best_settings"], seed, store),
        "ensemble": ensemble_of(trial_models(inputs, search, settings, seed, train,
                                             build_model), inputs, rounds, bag),
        "default_bag": bag_of_best(inputs, {trial_name(first): offered[trial_name(first)]},
                                   seed, train, stores, 1, bag),
        "cv_best": bag_of_best(inputs, offered, seed, train, stores, 1, bag),
        **{name: train(inputs, with_fusion(settings, name), seed)
           for name in ("linear_early", "linear_late")}}
    out = {}
    for name, (model, history) in trained.items():
        test = batch_for_split(inputs, "test", model.spec)
        predicted = predict_proba(model, test).argmax(axis=1)
        out[name] = {"val_macro_f1": max(epoch["val_macro_f1"] for epoch in history),
                     "test_accuracy": float(np.mean(
                         predicted == split_labels(inputs, "test", model.spec).numpy()))}
    return out


def run_best(dataset: str, manifest: Path, seed: int, data: Path, trials: int,
             timeout_minutes: float | None, overrides: dict) -> dict:
    """One `train --params preset=best`: every candidate's figures and the search's cost."""
    project = make_project(data / "projects" / dataset)
    params = merged({"preset": "best", "manifest": str(manifest), "seed": seed,
                     "extraction": {"cache": str(data / "cache" / dataset)},
                     "training": {"fit": {"checkpoint_dir": None},
                                  "search": {"n_trials": trials,
                                             "timeout_minutes": timeout_minutes,
                                             "folder": str(project / "search")}}}, overrides)
    started = time.perf_counter()
    run_kedro(project, "train", params)
    wall = time.perf_counter() - started
    search = latest_json(project, "data/06_models/hyperparameter_search.json")
    metrics = latest_json(project, "data/08_reporting/metrics.json")
    parameters = latest_json(project, "data/06_models/run_record.json")["parameters"]
    figures = scores(project, search, seed, parameters)
    figures["cv_ensemble"] = {"val_macro_f1": metrics["val_macro_f1"],
                              "test_accuracy": metrics["accuracy"]}
    return {"dataset": dataset, "seed": seed, "wall_seconds": wall,
            "search_seconds": search["seconds"], "trials": len(search["trials"]),
            "pruned": search["pruned"], "best": search["best"],
            "importance": search["importance"],
            "ensemble_members": metrics.get("ensemble", {}).get("members"),
            "candidates": figures}


def markdown(runs: list[dict]) -> str:
    """Per dataset, each candidate's mean validation macro-F1 and test accuracy over seeds;
    then each run's search."""
    lines = ["| dataset | seeds | " + " | ".join(f"`{c}` val F1 / test acc" for c in CANDIDATES)
             + " | search s (trials, pruned) |", "|---|---:|" + "---:|" * (len(CANDIDATES) + 1)]
    for dataset in dict.fromkeys(run["dataset"] for run in runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        cells = []
        for candidate in CANDIDATES:
            val, test = (statistics.fmean(r["candidates"][candidate][key] for r in mine)
                         for key in ("val_macro_f1", "test_accuracy"))
            cells.append(f"{val:.3f} / {test:.3f}")
        cost = (f"{statistics.fmean(r['search_seconds'] for r in mine):.0f} "
                f"({statistics.fmean(r['trials'] for r in mine):.0f}, "
                f"{statistics.fmean(r['pruned'] for r in mine):.0f})")
        lines.append(f"| {dataset} | {len(mine)} | " + " | ".join(cells) + f" | {cost} |")
    lines += ["", "| dataset | seed | trials (pruned) | search s | default val F1 | best trial "
              "val F1 | best trial | ensemble members |", "|---|---:|---:|---:|---:|---:|---|---|"]
    for run in runs:
        figures = run["candidates"]
        lines.append(
            f"| {run['dataset']} | {run['seed']} | {run['trials']} ({run['pruned']}) | "
            f"{run['search_seconds']:.0f} | {figures['default']['val_macro_f1']:.3f} | "
            f"{figures['best_trial']['val_macro_f1']:.3f} | "
            f"`{run['best']['params']['strategy']}` | {len(run['ensemble_members'] or [])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_suite_arguments(parser, "training.search.prune_after_epochs=5")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--timeout-minutes", type=float, default=None,
                        help="start no trial once the trials took this long")
    add_result_arguments(parser, "search.json", "multimodal-fusion-suite")
    args = parser.parse_args()
    if args.report:
        result = json.loads(args.report.read_text())
    else:
        result = {"machine": platform.platform(), "trials": args.trials,
                  "timeout_minutes": args.timeout_minutes, "overrides": args.set, "runs": []}
        for dataset in args.datasets:
            manifest = build_dataset(dataset, args.data)
            for seed in args.seeds:
                result["runs"].append(run_best(dataset, manifest, seed, args.data, args.trials,
                                               args.timeout_minutes, nested(args.set)))
                print(json.dumps(result["runs"][-1]["candidates"]), flush=True)
                args.output.write_text(json.dumps(result, indent=2))
    table = markdown(result["runs"])
    print(table)
    if args.readme:
        write_readme(table, MARKERS)


if __name__ == "__main__":
    main()
