"""Project settings: hooks and how configuration is loaded."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from multimodal_fusion.hooks import (
    DemoDataHook,
    DistributedOutputsHook,
    MlflowTrackingHook,
    RunIsolationHook,
)

HOOKS = (RunIsolationHook(), DemoDataHook(), DistributedOutputsHook(), MlflowTrackingHook())
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
}
