"""`training.search`: a hyperparameter search on validation macro-F1, within a budget. No Kedro.

An Optuna study samples a strategy and the settings that every strategy shares (learning
rate, weight decay, dropout, hidden width, modality dropout) with TPE, trains each trial as
`train` would and scores it by the validation macro-F1 of its kept weights; a trial whose
best score so far falls below the median of earlier trials at the same epoch is pruned. The
first trial is the user's own settings, so the search never ends worse on validation than
not searching. The test split is never looked at.

The study lives in SQLite under `folder`, named by a fingerprint of the settings, seed and
data: a rerun with the same three resumes it (a larger `n_trials` extends it), other data
starts another. It is reproducible for a seed: each trial's draws depend on the seed and
on the trials finished before it, never on how many processes the study took, so a study
killed mid-trial and run again ends as one that ran through. The trial that was running
when its process died is run again with the same parameters, resuming its training from
the last epoch's checkpoint. Completed trials' models are kept in a training store, so the
model kept after the search (`keep`: the best trial's, or an ensemble of every completed
trial weighted by greedy selection on validation) is loaded, not trained again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from filelock import FileLock
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, Trial, TrialState
from torch import nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.progress import progress
from multimodal_fusion.models.inputs import ModelInputs
from multimodal_fusion.training.checkpoint import run_key
from multimodal_fusion.training.engine import TrainingStopped, observing_epochs
from multimodal_fusion.training.reuse import Result, StoredTrainer, TrainingStore

logger = logging.getLogger(__name__)
STUDIES, TRAININGS, CROSSFIT, LOCK = ("studies.sqlite", "trainings", "crossfit",
                                      "search.lock")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Search settings that change no trial (its budget, what is kept after); changing them
# continues the same study.
NOT_IN_STUDY = ("n_trials", "timeout_minutes", "keep", "folds", "finalists")
# The training groups a trial depends on; the others (auto, ensemble) shape no trial.
TRIAL_GROUPS = ("model", "fit", "linear")
KEPT = ("best", "ensemble")
LOG_SCALED = ("learning_rate", "weight_decay")
# The space's numbers drawn from a [low, high] range, and its model settings chosen from a
# list.
RANGED = ("learning_rate", "weight_decay", "dropout", "modality_dropout")
LISTED = ("hidden_dim", "cnn_width", "pretrained_features")


@dataclass(frozen=True)
class SearchSettings:
    """The search's budget and space; each field is documented in parameters_training.yml."""

    n_trials: int
    timeout_minutes: float | None
    strategies: tuple[str, ...] | list[str]
    learning_rate: tuple[float, float] | list[float]
    weight_decay: tuple[float, float] | list[float]
    dropout: tuple[float, float] | list[float]
    modality_dropout: tuple[float, float] | list[float]
    hidden_dim: tuple[int, ...] | list[int]
    cnn_width: tuple[int, ...] | list[int]
    pretrained_features: tuple[str, ...] | list[str]
    startup_trials: int
    prune_after_epochs: int
    keep: str
    folds: int
    finalists: int
    folder: str

    def __post_init__(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials < 0:
            raise ValueError(f"training.search.n_trials {self.n_trials!r}: give 0 (no search) "
                             "or more trials")
        if not self.strategies or {"auto", "ensemble"} & set(self.strategies):
            raise ValueError("training.search.strategies: list one or more strategies, not "
                             "auto or ensemble (the search chooses among them itself; "
                             "keep: ensemble combines its trials)")
        for name in RANGED:
            low, high = range_of(self, name)
            if not 0 <= low <= high or (name in LOG_SCALED and low <= 0):
                raise ValueError(f"training.search.{name} {[low, high]}: give [low, high] with "
                                 f"0 {'<' if name in LOG_SCALED else '<='} low <= high")
        for name in LISTED:
            if not getattr(self, name):
                raise ValueError(f"training.search.{name}: list one or more values")
        if self.keep not in KEPT:
            raise ValueError(f"training.search.keep {self.keep!r}: choose best or ensemble")
        if not isinstance(self.folds, int) or self.folds < 0 or self.folds == 1:
            raise ValueError(f"training.search.folds {self.folds!r}: give 0 (choose on the "
                             "validation split) or 2 or more folds")
        if not isinstance(self.finalists, int) or self.finalists < 1:
            raise ValueError(f"training.search.finalists {self.finalists!r}: give 1 or more")


def range_of(search: SearchSettings, name: str) -> tuple[float, float]:
    """A searched range, refusing anything but two numbers."""
    bounds = getattr(search, name)
    if len(bounds) != 2:
        raise ValueError(f"training.search.{name} {bounds!r}: give [low, high]")
    return float(bounds[0]), float(bounds[1])


def suggest(trial: Trial, search: SearchSettings) -> dict:
    """One trial's parameters, drawn from the space (or fixed, for an enqueued trial)."""
    floats = {name: trial.suggest_float(name, *range_of(search, name), log=name in LOG_SCALED)
              for name in RANGED}
    strategy = trial.suggest_categorical("strategy", list(search.strategies))
    listed = {name: trial.suggest_categorical(name, list(getattr(search, name)))
              for name in LISTED}
    return {"strategy": strategy, **floats, **listed}


def trial_settings(settings: dict, params: dict) -> dict:
    """The training settings of a trial: its parameters in their groups, and only what
    shapes a trial besides (`study_settings`), so that its training, stored under a
    fingerprint of its settings, is found again whatever else changed."""
    shaping = study_settings(settings)
    return {**shaping, "auto": None, "ensemble": None,
            "model": {**shaping["model"], "fusion": params["strategy"],
                      "dropout": params["dropout"],
                      **{name: params[name] for name in LISTED}},
            "fit": {**shaping["fit"], "learning_rate": params["learning_rate"],
                    "weight_decay": params["weight_decay"],
                    "modality_dropout": params["modality_dropout"]}}


def study_settings(settings: dict) -> dict:
    """The training settings a study's trials depend on: the groups that shape a trial and
    the search's space, not its budget or what is kept after it."""
    search = {k: v for k, v in settings["search"].items() if k not in NOT_IN_STUDY}
    return {group: settings[group] for group in TRIAL_GROUPS} | {"search": search}


def own_parameters(settings: dict, search: SearchSettings) -> dict:
    """The user's settings as the first trial: each that lies in the space (the strategy
    when it is a candidate); the others are drawn."""
    model, fit = settings["model"], settings["fit"]
    own = {"strategy": model["fusion"], "learning_rate": fit["learning_rate"],
           "weight_decay": fit["weight_decay"], "dropout": model["dropout"],
           "modality_dropout": fit["modality_dropout"],
           **{name: model[name] for name in LISTED}}
    inside = {"strategy": own["strategy"] in search.strategies}
    inside |= {name: own[name] in getattr(search, name) for name in LISTED}
    inside |= {name: range_of(search, name)[0] <= own[name] <= range_of(search, name)[1]
               for name in RANGED}
    return {name: value for name, value in own.items() if inside[name]}


class TrialSeededSampler(BaseSampler):
    """TPE whose draws for a trial depend only on the seed and on how many trials finished
    before it. One TPE sampler draws from one random stream that a new process would start
    again, so a resumed study would draw differently from one that ran through; this one
    starts a fresh, seeded TPE for every trial, which reads the finished trials from the
    study as it always does."""

    def __init__(self, seed: int, startup_trials: int) -> None:
        self.seed, self.startup_trials = seed, startup_trials
        self.tpe = self.fresh(0)

    def fresh(self, finished: int) -> TPESampler:
        """The TPE sampler of the trial that follows `finished` finished trials."""
        return TPESampler(seed=self.seed * 100_003 + finished,
                          n_startup_trials=self.startup_trials)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.tpe = self.fresh(len(study.get_trials(deepcopy=False, states=FINISHED)))
        self.tpe.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict:
        return self.tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict) -> dict:
        return self.tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> object:
        return self.tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: list[float] | None) -> None:
        self.tpe.after_trial(study, trial, state, values)


def study_name(model_inputs: ModelInputs, settings: dict, seed: int) -> str:
    """A fingerprint of what a study's trials depend on; its budget is left out, so a
    larger budget continues the same study."""
    return f"search-{run_key({}, study_settings(settings), seed, model_inputs)}"


def open_study(folder: Path, name: str, seed: int, search: SearchSettings) -> optuna.Study:
    """The study `name` in the folder's SQLite file, created if it is new."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{(folder / STUDIES).resolve()}")
    return optuna.create_study(
        study_name=name, storage=storage, direction="maximize", load_if_exists=True,
        sampler=TrialSeededSampler(seed, search.startup_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials,
                                           n_warmup_steps=search.prune_after_epochs))


def retry_interrupted(study: optuna.Study) -> None:
    """Trials left running (their process died: the folder's lock is ours) fail and run
    again first, with the same parameters."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        retry(study, trial)
        logger.warning("search: trial %d was cut short (its run stopped); running it again "
                       "with the same parameters", trial.number)


def retry(study: optuna.Study, trial: FrozenTrial | Trial) -> None:
    """Queue a trial that failed to run again next, as the trial it stands for."""
    original = trial.user_attrs.get("retry_of", trial.number)
    study.enqueue_trial(trial.params, user_attrs={"retry_of": original})


def seconds_spent(study: optuna.Study) -> float:
    """The wall seconds of the study's finished trials, across every run of it."""
    return sum((t.datetime_complete - t.datetime_start).total_seconds()
               for t in study.get_trials(deepcopy=False, states=FINISHED))


def budget_left(study: optuna.Study, search: SearchSettings) -> bool:
    """Whether another trial starts: trials left, and time left if there is a limit."""
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    if finished >= search.n_trials:
        return False
    return search.timeout_minutes is None or seconds_spent(study) < search.timeout_minutes * 60


def pruning(trial: Trial) -> Callable[[int, float], None]:
    """An epoch observer reporting the trial's best validation macro-F1 so far, stopping it
    when the pruner says it trails the trials before it."""
    def observe(epoch: int, best: float) -> None:
        trial.report(best, epoch)
        if trial.should_prune():
            trial.set_user_attr("epochs", epoch)
            raise TrainingStopped(f"trial {trial.number} pruned at epoch {epoch}")
    return observe


def run_trial(study: optuna.Study, model_inputs: ModelInputs, settings: dict, seed: int,
              search: SearchSettings, train: StoredTrainer, store: TrainingStore) -> None:
    """Ask for a trial, train it, tell the study how it ended."""
    trial = study.ask()
    params = suggest(trial, search)
    started = time.perf_counter()
    try:
        with observing_epochs(pruning(trial)):
            _, history = train(model_inputs, trial_settings(settings, params), seed, store)
    except TrainingStopped:
        study.tell(trial, state=TrialState.PRUNED)
        logger.info("search: trial %d (%s) pruned after %d epochs, %.0f s", trial.number,
                    params["strategy"], trial.user_attrs["epochs"],
                    time.perf_counter() - started)
        return
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        retry(study, trial)
        raise
    score = max(epoch["val_macro_f1"] for epoch in history)
    trial.set_user_attr("epochs", len(history))
    study.tell(trial, score)
    logger.info("search: trial %d (%s) scores %.4f validation macro-F1 (best %.4f), %.0f s",
                trial.number, params["strategy"], score, study.best_value,
                time.perf_counter() - started)


def importance(study: optuna.Study) -> dict[str, float]:
    """Each parameter's share of the objective's variation (Optuna's default evaluator,
    PED-ANOVA); empty while too few trials completed to tell."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(completed) < 3 or len({t.value for t in completed}) < 2:
        return {}
    return {name: float(share) for name, share in
            optuna.importance.get_param_importances(study).items()}


def trial_row(trial: FrozenTrial) -> dict:
    """A finished trial as the report lists it."""
    return {"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
            "params": trial.params, "epochs": trial.user_attrs.get("epochs"),
            "seconds": (trial.datetime_complete - trial.datetime_start).total_seconds(),
            "retry_of": trial.user_attrs.get("retry_of")}


def search_record(study: optuna.Study, search: SearchSettings, settings: dict,
                  folder: Path) -> dict:
    """What the search tried and chose, with the settings of the best trial."""
    trials = [trial_row(t) for t in study.get_trials(deepcopy=False, states=FINISHED)]
    best = study.best_trial
    return {"study": study.study_name, "storage": str(folder / STUDIES), "folder": str(folder),
            "n_trials": search.n_trials, "timeout_minutes": search.timeout_minutes,
            "keep": search.keep, "folds": search.folds, "finalists": search.finalists,
            "trials": trials,
            "pruned": sum(t["state"] == "pruned" for t in trials),
            "seconds": seconds_spent(study), "importance": importance(study),
            "best": {"number": best.number, "value": best.value, "params": best.params},
            "best_settings": trial_settings(settings, best.params)}


def run_search(model_inputs: ModelInputs, settings: dict, seed: int, train: StoredTrainer,
               build: Callable[[dict], nn.Module]) -> dict:
    """Run (or resume) the study until its budget is spent; its record.

    The folder's lock keeps one process per study folder, which is what lets a trial found
    running be known dead.
    """
    search = typed_settings(SearchSettings, settings["search"], "training.search")
    folder = Path(search.folder)
    folder.mkdir(parents=True, exist_ok=True)
    store = TrainingStore(folder / TRAININGS, build)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with FileLock(folder / LOCK):
        study = open_study(folder, study_name(model_inputs, settings, seed), seed, search)
        retry_interrupted(study)
        if not study.trials:
            study.enqueue_trial(own_parameters(settings, search))
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        if done:
            logger.info("search: resuming study %s, %d trials done", study.study_name, done)
        with progress("search trials", search.n_trials) as advance:
            advance(min(done, search.n_trials))
            while budget_left(study, search):
                run_trial(study, model_inputs, settings, seed, search, train, store)
                advance(1)
        record = search_record(study, search, settings, folder)
    logger.info("search: best of %d trials is trial %d, %s, %.4f validation macro-F1 (%.0f s "
                "of trials)", len(record["trials"]), record["best"]["number"],
                record["best"]["params"]["strategy"], record["best"]["value"], record["seconds"])
    return record


def search_summary(record: dict) -> dict:
    """What a model's spec keeps of the search that chose it."""
    return {key: record[key] for key in (
        "study", "n_trials", "timeout_minutes", "keep", "folds", "pruned", "seconds",
        "best")} | {
        "trials": len(record["trials"])}


def store_of(record: dict, build: Callable[[dict], nn.Module]) -> TrainingStore:
    """The store that keeps the models of a search's completed trials."""
    return TrainingStore(Path(record["folder"]) / TRAININGS, build)


def best_model(model_inputs: ModelInputs, record: dict, seed: int, train: StoredTrainer,
               build: Callable[[dict], nn.Module]) -> Result:
    """The best trial's model, kept in the search's store (trained again only if it is gone),
    its spec recording the search."""
    model, history = train(model_inputs, record["best_settings"], seed, store_of(record, build))
    model.spec["search"] = search_summary(record)
    return model, history


def trial_models(model_inputs: ModelInputs, record: dict, settings: dict, seed: int,
                 train: StoredTrainer, build: Callable[[dict], nn.Module]) -> dict[str, Result]:
    """Every completed trial's model from the search's store, named by trial, for an
    ensemble to choose among."""
    store = store_of(record, build)
    return {trial_name(t): train(model_inputs, trial_settings(settings, t["params"]), seed, store)
            for t in record["trials"] if t["state"] == "complete"}


def finalists(record: dict, settings: dict) -> dict[str, dict]:
    """The settings, by trial, of the completed trials that cross-fitting ranks again: the
    `finalists` best on validation, and the first trial (the user's settings) besides."""
    completed = [t for t in record["trials"] if t["state"] == "complete"]
    ranked = sorted(completed, key=lambda t: (-t["value"], t["number"]))[:record["finalists"]]
    ranked += [t for t in completed if stands_for(t) == 0 and t not in ranked]
    return {trial_name(t): trial_settings(settings, t["params"]) for t in ranked}


def stands_for(trial: dict) -> int:
    """The number of the trial this one is (itself, or the one it runs again)."""
    return trial["number"] if trial["retry_of"] is None else trial["retry_of"]


def trial_name(trial: dict) -> str:
    """How reports and ensembles name a trial: its number and strategy."""
    return f"trial {trial['number']} ({trial['params']['strategy']})"
