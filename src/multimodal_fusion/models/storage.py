"""A model on disk as safetensors weights beside the JSON spec that rebuilds it. No Kedro.

Loading rebuilds the architecture from the spec and reads tensors only, so a model file
from a stranger cannot run code, unlike a pickled module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

RETRAIN = "Retrain it with `kedro run --pipelines=train`"


class ModelFileError(ValueError):
    """Stored weights that cannot be read, or do not fit the architecture their spec
    describes."""


def save_model(model: nn.Module, weights: Path) -> None:
    """`<name>.safetensors` and `<name>.json` (the model's spec) side by side."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: tensor.detach().cpu().contiguous()
               for name, tensor in model.state_dict().items()}, weights)
    weights.with_suffix(".json").write_text(json.dumps(model.spec, indent=2), encoding="utf-8")


def load_model(weights: Path, build: Callable[[dict], nn.Module]) -> nn.Module:
    """The model `build` makes of the stored spec, with the stored weights, in eval mode."""
    try:
        spec = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
        state = load_file(weights)
    except (OSError, ValueError, SafetensorError) as error:
        raise ModelFileError(f"{weights} or its spec cannot be read ({error}): a copy or "
                             f"a save was cut short. {RETRAIN}") from error
    try:
        model = build(spec)
        model.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as error:
        raise ModelFileError(
            f"{weights} does not fit the architecture its spec describes in this version "
            f"of multimodal_fusion; another version probably saved it. {RETRAIN}, or "
            f"install the version that saved it.\n{error}") from error
    return model.eval()
