"""`features`: one namespace per registered modality, from the split manifest to a feature table.

Each modality declares its steps (see `modalities.common.Step`); here they become nodes in
the modality's namespace, their neutral names mapped to datasets, so kedro-viz shows a
preprocessing node (decode and clean) feeding the extraction nodes, and a change of feature
settings reuses the preprocessing. A modality the manifest lacks still has its namespace;
its nodes then pass an empty table along.
"""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.modalities import registered
from multimodal_fusion.modalities.common import Modality

# What every modality's steps may read, and the dataset each name stands for; a modality's
# own parameter groups (preprocessing, features) are params:<modality>.<group>.
SHARED = {"manifest": "split_manifest", "extraction": "params:extraction",
          "seed": "params:seed"}
OWN_PARAMETERS = ("preprocessing", "features")


def dataset(name: str) -> str:
    """The dataset a step's neutral name stands for, inside the modality's namespace."""
    return SHARED.get(name) or (f"params:{name}" if name in OWN_PARAMETERS else name)


def modality_pipeline(modality: Modality) -> Pipeline:
    """The modality's steps as nodes, its datasets prefixed with its name.

    Its feature table and what it fitted on the training split (which the model keeps,
    for inference) leave the namespace as `<modality>_features` and `<modality>_fitted`.
    """
    nodes = [node(step.function, inputs=[dataset(name) for name in step.reads],
                  outputs=step.writes, name=step.name) for step in modality.steps]
    shared = {SHARED[name] for step in modality.steps for name in step.reads if name in SHARED}
    outputs = {"table": f"{modality.name}_features"} | (
        {"fitted": f"{modality.name}_fitted"} if modality.fits else {})
    return Pipeline(nodes, namespace=modality.name, inputs={"split_manifest"},
                    outputs=outputs, parameters=shared - {"split_manifest"})


def create_pipeline(**kwargs) -> Pipeline:
    return sum((modality_pipeline(m) for m in registered()), Pipeline([]))
