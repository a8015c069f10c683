"""The modality registry: one module per modality, each declaring its `MODALITY`. No Kedro.

A modality module (`image`, `text`, ...) declares its manifest column, its preprocessing and
extraction steps (the nodes of its namespace in the `features` pipeline), the feature table
they yield and the model encoders that table may name (see `common.Modality`). The features
pipeline, the training inputs, the unimodal baselines and the manifest's columns all follow
from this list, so adding a modality is a module here and its name below.

The modules are imported on first use: they bring decoding libraries (librosa, Pillow,
scikit-learn) that code which only needs the names, such as the fusion strategies, must
not pay for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multimodal_fusion.modalities.common import Modality

MODALITY_NAMES = ("image", "text", "audio", "tabular")


def modality(name: str) -> Modality:
    """The declaration of the modality registered as `name`."""
    if name not in MODALITY_NAMES:
        raise ValueError(f"unknown modality {name!r}; the registered ones are "
                         f"{', '.join(MODALITY_NAMES)}")
    return import_module(f"{__name__}.{name}").MODALITY


def registered() -> list[Modality]:
    """Every registered modality, in registry order."""
    return [modality(name) for name in MODALITY_NAMES]


def manifest_columns() -> list[str]:
    """The manifest columns that hold a modality of their own (tabular's are parameters)."""
    return [m.column for m in registered() if m.column]
