"""Project settings: hooks and how configuration is loaded."""

import logging
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from multimodal_fusion.hooks import (
    DemoDataHook,
    DistributedOutputsHook,
    MlflowTrackingHook,
    RunIsolationHook,
    RunSummaryHook,
)

# With the mlflow extra, MLflow warns on every command, as Kedro loads kedro-mlflow, that
# kedro-mlflow's model class has a `predict` without type hints: a note for kedro-mlflow's
# authors, not for a user of this project. MLflow raises it under a warnings filter of its
# own, which no warnings filter outranks, so it is dropped where Kedro logs warnings.
logging.getLogger("py.warnings").addFilter(
    lambda record: "Add type hints to the `predict` method" not in record.getMessage())
# kedro-viz 12.5 imports FastAPI's ORJSONResponse, which FastAPI 0.165 deprecates: a note
# for kedro-viz's authors, printed by every `kedro viz` command.
warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated", category=UserWarning)

HOOKS = (RunIsolationHook(), DemoDataHook(), DistributedOutputsHook(), MlflowTrackingHook(),
         RunSummaryHook())
# kedro-mlflow would track every run once installed; MlflowTrackingHook turns it on only
# where conf/ has an mlflow.yml. Kedro matches the distribution's name as its metadata
# spells it, which is kedro_mlflow for the current wheel.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")


def _beside(path: str, name: str) -> str:
    """The path of file `name` in the same folder as `path` (e.g. the manifest's metadata)."""
    return (Path(path).parent / name).as_posix()


def _preset(key: str, *, _root_: DictConfig) -> Any:
    """The value of `key` in the preset the parameters choose (`preset`, from `presets`)."""
    name, presets = _root_.preset, _root_.presets
    if name not in presets:
        raise ValueError(f"preset {name!r} is not one of {', '.join(presets)}; choose one with "
                         "--params=preset=<name>")
    return presets[name][key]


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"beside": _beside, "preset": _preset},
    # conf/local names only the keys it changes (`tabular: {preprocessing: {numeric: [a]}}`):
    # the rest of each group stays conf/base's, where every key has its one value.
    "merge_strategy": {"parameters": "soft"},
}
