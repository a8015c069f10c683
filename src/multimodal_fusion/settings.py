"""Project settings: hooks and how configuration is loaded."""

from pathlib import Path

from multimodal_fusion.hooks import DemoDataHook, DistributedOutputsHook

HOOKS = (DemoDataHook(), DistributedOutputsHook())


def _beside(path: str, name: str) -> str:
    """The path of file `name` in the same folder as `path` (e.g. the manifest's metadata)."""
    return (Path(path).parent / name).as_posix()


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"beside": _beside},
}
