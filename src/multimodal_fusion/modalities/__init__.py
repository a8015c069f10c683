"""The modality registry: one module per modality, each declaring its `MODALITY`. No Kedro.

A modality module (`image`, `text`, ...) declares its manifest columns, its preprocessing and
extraction steps (the nodes of its namespace in the `features` pipeline), the feature table
they yield, how validation checks its cells and files, and the model encoders that table
may name (see `common.Modality`). The features pipeline, validation, the training inputs,
inference, the unimodal baselines and the manifest's columns all follow from `MODALITIES`,
so adding a modality is a module here, its line below and its parameters in
conf/base/parameters_features.yml.

The modules are imported on first use: they bring decoding libraries (librosa, Pillow,
scikit-learn) that code which only needs the names, such as the strategy registry, must
not pay for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from multimodal_fusion.modalities.common import failure_rows

if TYPE_CHECKING:
    import pandas as pd

    from multimodal_fusion.contract.quarantine import ColumnRule
    from multimodal_fusion.modalities.common import FeatureTable, Modality

# Each modality's name and the module that declares it.
MODALITIES = {
    "image": f"{__name__}.image",
    "text": f"{__name__}.text",
    "audio": f"{__name__}.audio",
    "tabular": f"{__name__}.tabular",
}


def modality_names() -> tuple[str, ...]:
    """Every registered modality's name, in registry order."""
    return tuple(MODALITIES)


def modality(name: str) -> Modality:
    """The declaration of the modality registered as `name`."""
    if name not in MODALITIES:
        raise ValueError(f"unknown modality {name!r}; the registered ones are "
                         f"{', '.join(MODALITIES)}")
    return import_module(MODALITIES[name]).MODALITY


def registered() -> list[Modality]:
    """Every registered modality, in registry order."""
    return [modality(name) for name in MODALITIES]


def manifest_columns() -> list[str]:
    """The manifest columns that hold a modality of their own (tabular's are parameters)."""
    return [m.column for m in registered() if m.column]


def column_rules(preprocessing: dict[str, dict | None]) -> list[ColumnRule]:
    """Validation's rule for every manifest column of the modalities given, each with its
    `preprocessing` parameters (which name the columns of a tabular-like modality)."""
    return [rule for name, settings in preprocessing.items()
            for rule in modality(name).rules(settings)]


def extraction_faults(manifest: pd.DataFrame, tables: dict[str, FeatureTable]) -> list[dict]:
    """A quarantine report row for every file of these modalities' feature tables that
    failed in extraction."""
    return [row for name, table in tables.items()
            for row in failure_rows(manifest, name, modality(name).column or name, table)]
