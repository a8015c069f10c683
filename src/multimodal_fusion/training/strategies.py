"""The strategy registry: every name `training.model.fusion` takes, with its kind, the model it
builds and how it is fitted. No Kedro.

Five kinds of strategy share one namespace of names:
- `fusion`: a fusion module (one per module in `fusion/`) between the modalities' encoders
  and a head, trained end to end by the engine;
- `unimodal`: `<modality>_only`, one per registered modality: concatenation over that
  modality alone, so its model never sees the others;
- `linear reference`: logistic regressions on cheap fixed vectors (`models.linear`), fitted
  with scikit-learn, which every comparison carries;
- `auto`: the best of `training.auto.candidates` on validation; its model is the winner's;
- `ensemble`: trained members weighted by greedy selection on validation
  (`training.ensemble`); its model holds the members it kept.

A hyperparameter search (`training.search`, `search_hyperparameters`) draws its trials'
strategies from these names and trains each through `train`.

Every name list (what `compare` trains, what the leaderboard colours, which options groups
exist) follows from `every_strategy()`, so adding a fusion strategy is its module and one
entry in `STRATEGIES` below. `train` is the one way in: a lookup and a fit, optionally
through a store of finished trainings (`training.reuse`), one training at a time per
process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from torch import nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.fusion.concat import ConcatFusion, MLPFusion
from multimodal_fusion.fusion.late import LateFusion
from multimodal_fusion.fusion.tensor import LowRankFusion, TensorFusion
from multimodal_fusion.fusion.transformer import TransformerFusion
from multimodal_fusion.fusion.weighted import AttentionFusion, GatedFusion, WeightedSumFusion
from multimodal_fusion.modalities import modality_names
from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.models.ensemble import EnsembleClassifier
from multimodal_fusion.models.inputs import ModelInputs, ModelSettings, modalities_of, model_spec
from multimodal_fusion.models.linear import LinearEarly, LinearLate
from multimodal_fusion.training.auto import AutoSettings, Trainer, choose_and_fit
from multimodal_fusion.training.crossfit import bag_of_best, fold_stores
from multimodal_fusion.training.distributed import current_cluster
from multimodal_fusion.training.engine import TrainingGroups, fit_network, seed_everything
from multimodal_fusion.training.ensemble import ensemble_of, ensemble_settings, train_members
from multimodal_fusion.training.linear import fit_linear_reference
from multimodal_fusion.training.reuse import Result, TrainingStore
from multimodal_fusion.training.search import (
    CROSSFIT,
    SearchSettings,
    best_model,
    finalists,
    run_search,
    search_summary,
    trial_models,
)

logger = logging.getLogger(__name__)
FUSION, UNIMODAL, LINEAR, AUTO, ENSEMBLE = ("fusion", "unimodal", "linear reference", "auto",
                                            "ensemble")
OPTIONS_WHERE = "training.model.fusion_options"
# torch draws initial weights, dropout and augmentation from one generator per process, so
# two trainings in threads of one process (Kedro's ThreadRunner) would draw from each other's
# luck: they take turns instead, and each gives what it gives alone.
TRAINING_TURN = threading.RLock()


@dataclass(frozen=True)
class Strategy:
    """One name a user can give `training.model.fusion`.

    `fit(strategy, model_inputs, settings, seed, train)` returns the fitted model and its
    history; `train` trains another strategy the same way (auto trains its candidates
    with it). `model(spec)` builds the untrained model a spec describes, to be fitted or
    loaded; auto has none, since its model is its winner's. `fusion` is the fusion module
    of a network, `modality` the one modality of a unimodal baseline.
    """

    name: str
    kind: str
    fit: Callable[[Strategy, ModelInputs, dict, int, Trainer], Result]
    model: Callable[[dict], nn.Module] | None = None
    fusion: type[nn.Module] | None = None
    modality: str | None = None

    def modalities(self, available: list[str]) -> list[str]:
        """The modalities its model reads: all of these, or a baseline's own."""
        if self.modality is None:
            return sorted(available)
        if self.modality not in available:
            raise ValueError(f"baseline {self.name!r} needs {self.modality} features, but no "
                             "training sample has any")
        return [self.modality]

    def unusable(self, available: list[str]) -> str | None:
        """Why it cannot be trained on these modalities, or None."""
        if self.modality is not None and self.modality not in available:
            return f"no training sample has {self.modality}"
        return None if available else "no training sample has any modality"

    def spec(self, model_inputs: ModelInputs, settings: dict) -> dict:
        """The spec of its model for these inputs and `training.model` settings."""
        chosen = typed_settings(ModelSettings, settings, "training.model")
        return model_spec(model_inputs, self.modalities(modalities_of(model_inputs)), chosen) | {
            "fusion": self.name, "fusion_options": strategy_options(self.name,
                                                                    chosen.fusion_options)}


def network(name: str, module: type[nn.Module], kind: str = FUSION,
            modality: str | None = None) -> Strategy:
    """A strategy whose model is encoders, the fusion module `module` and a head."""
    return Strategy(name, kind, fit=fit_network,
                    model=partial(MultimodalClassifier, fusion=module), fusion=module,
                    modality=modality)


def linear(name: str, model: type[nn.Module]) -> Strategy:
    """A linear reference baseline, fitted by scikit-learn."""
    return Strategy(name, LINEAR, fit=fit_linear_reference, model=model)


def fit_auto(strategy: Strategy, model_inputs: ModelInputs, settings: dict, seed: int,
             train: Trainer) -> Result:
    """The best candidate on validation, each trained with `train`."""
    search = typed_settings(AutoSettings, settings["auto"], "training.auto")
    for candidate in search.candidates:
        named(candidate, "training.auto.candidates")
    return choose_and_fit(model_inputs, settings, seed, train)


def fit_ensemble(strategy: Strategy, model_inputs: ModelInputs, settings: dict, seed: int,
                 train: Trainer) -> Result:
    """The members trained with `train`, then weighted by greedy selection on validation."""
    chosen = ensemble_settings(settings)
    for member in chosen.members:
        named(member, "training.ensemble.members")
    return ensemble_of(train_members(model_inputs, settings, seed, train), model_inputs,
                       chosen.rounds, strategy.model)


# The strategies one adds to: a fusion strategy is its module in fusion/ and a line here.
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    network("concat", ConcatFusion),
    network("weighted_sum", WeightedSumFusion),
    network("mlp", MLPFusion),
    network("attention", AttentionFusion),
    network("gated", GatedFusion),
    network("transformer", TransformerFusion),
    network("tensor", TensorFusion),
    network("low_rank", LowRankFusion),
    network("late", LateFusion),
    Strategy("auto", AUTO, fit=fit_auto),
    Strategy("ensemble", ENSEMBLE, fit=fit_ensemble,
             model=lambda spec: EnsembleClassifier(spec, build_model)),
    linear("linear_early", LinearEarly),
    linear("linear_late", LinearLate),
)}


def every_strategy() -> dict[str, Strategy]:
    """`STRATEGIES`, then a unimodal baseline for each registered modality."""
    return STRATEGIES | {f"{m}_only": network(f"{m}_only", ConcatFusion, UNIMODAL, modality=m)
                         for m in modality_names()}


def of_kind(kind: str) -> list[str]:
    """The names of every strategy of one kind, in registry order."""
    return [name for name, strategy in every_strategy().items() if strategy.kind == kind]


def named(name: str, where: str = "training.model.fusion") -> Strategy:
    """The strategy registered as `name`, or an error listing the names there are."""
    known = every_strategy()
    if name not in known:
        raise ValueError(f"{where}: unknown fusion strategy {name!r}; choose one of "
                         f"{', '.join(known)}")
    return known[name]


def strategy_options(name: str, options_by_strategy: dict[str, dict] | None) -> dict:
    """The options of strategy `name`, complete, from the per-strategy parameter groups.

    Every group is checked, not only the chosen strategy's, so a misspelt key stops `compare`
    and `train` alike, naming it and the keys that strategy takes. A strategy without a
    fusion module of its own (a baseline) takes none.
    """
    options_by_strategy = options_by_strategy or {}
    modules = {n: STRATEGIES[n].fusion for n in of_kind(FUSION)}
    unknown = sorted(set(options_by_strategy) - set(modules))
    if unknown:
        raise ValueError(
            f"{OPTIONS_WHERE}: unknown key {', '.join(repr(k) for k in unknown)}; its keys are "
            f"strategy names ({', '.join(modules)}), each holding that strategy's "
            f"options, e.g. {OPTIONS_WHERE}.low_rank.rank")
    for strategy, options in options_by_strategy.items():
        typed_settings(modules[strategy].Settings, options, f"{OPTIONS_WHERE}.{strategy}")
    module = named(name).fusion
    return {} if module is None else asdict(typed_settings(
        module.Settings, options_by_strategy.get(name), f"{OPTIONS_WHERE}.{name}"))


def build_model(spec: dict) -> nn.Module:
    """The untrained model a stored spec describes, for its weights to be loaded into."""
    return named(spec["fusion"], "the model's spec").model(spec)


def train(model_inputs: ModelInputs, settings: dict, seed: int,
          store: TrainingStore | None = None) -> Result:
    """The strategy `settings["model"]["fusion"]` names, fitted to these inputs.

    With a `store`, a training already done with the same settings, seed and data is
    loaded instead of run again, and auto's candidates go through the store too.
    """
    typed_settings(TrainingGroups, settings, "training")
    strategy = named(settings["model"]["fusion"])
    again = partial(train, store=store)
    with TRAINING_TURN:
        seed_everything(seed)
        if store is None:
            return strategy.fit(strategy, model_inputs, settings, seed, again)
        return store.reuse_or_fit(model_inputs, settings, seed, lambda: strategy.fit(
            strategy, model_inputs, settings, seed, again))


def search_hyperparameters(model_inputs: ModelInputs, settings: dict, seed: int) -> dict:
    """The record of `training.search`'s study (run or resumed), or why none ran."""
    search = typed_settings(SearchSettings, settings["search"], "training.search")
    if search.n_trials == 0:
        return {"trials": [], "reason": "training.search.n_trials is 0: no search ran",
                "folds": search.folds, "folder": search.folder}
    for strategy in search.strategies:
        named(strategy, "training.search.strategies")
    if current_cluster().distributed:
        raise ValueError("training.search runs its trials in one process, not under torchrun: "
                         "set training.search.n_trials: 0 there, or run the search alone")
    return run_search(model_inputs, settings, seed, train, build_model)


def own_settings_name(settings: dict) -> str:
    """How a bag of the user's own settings names them: `train`'s strategy."""
    return f"your settings ({settings['model']['fusion']})"


def train_or_take_searched(model_inputs: ModelInputs, settings: dict, seed: int,
                           search: dict) -> Result:
    """After a search, what `training.search.keep` names: its best trial's model or the
    ensemble of its completed trials (their trainings kept, not run again), chosen on the
    validation split or, with `folds`, cross-fitted (`training.crossfit`); without a
    search, the strategy `settings` names, trained, or with `folds` its fold models'
    bag."""
    stores = fold_stores(Path(search["folder"]) / CROSSFIT, search["folds"], build_model)
    if not search["trials"]:
        if not search["folds"]:
            return train(model_inputs, settings, seed)
        return bag_of_best(model_inputs, {own_settings_name(settings): settings}, seed, train,
                           stores, 1, named("ensemble").model)
    rounds = ensemble_settings(settings).rounds
    if search["folds"]:
        model, history = bag_of_best(model_inputs, finalists(search, settings), seed, train,
                                     stores, rounds if search["keep"] == "ensemble" else 1,
                                     named("ensemble").model)
    elif search["keep"] == "best":
        return best_model(model_inputs, search, seed, train, build_model)
    else:
        model, history = ensemble_of(trial_models(model_inputs, search, settings, seed, train,
                                                  build_model),
                                     model_inputs, rounds, named("ensemble").model)
    model.spec["search"] = search_summary(search)
    return model, history
