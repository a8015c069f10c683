"""`features`: one namespace per registered modality, from the split manifest to a feature table.

Each modality declares its steps (see `modalities.common.Step`); here they become nodes in
the modality's namespace, so kedro-viz shows a preprocessing node (decode and clean) feeding
the extraction nodes, and a change of feature settings reuses the preprocessing. A modality
the manifest lacks still has its namespace; its nodes then pass an empty table along.
"""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.modalities import registered
from multimodal_fusion.modalities.common import Modality

SHARED = {"manifest": "split_manifest", "cache": "params:feature_cache",
          "workers": "params:feature_workers", "seed": "params:seed"}


def modality_pipeline(modality: Modality) -> Pipeline:
    """The modality's steps as nodes, its datasets prefixed with its name.

    Its feature table and what it fitted on the training split (which the model keeps,
    for inference) leave the namespace as `<modality>_features` and `<modality>_fitted`.
    """
    nodes = [node(step.function, inputs=[SHARED.get(name, name) for name in step.reads],
                  outputs=step.writes, name=step.name) for step in modality.steps]
    shared = {SHARED[name] for step in modality.steps for name in step.reads if name in SHARED}
    outputs = {"features": f"{modality.name}_features"} | (
        {"fitted": f"{modality.name}_fitted"} if modality.fits else {})
    return Pipeline(nodes, namespace=modality.name, inputs={"split_manifest"},
                    outputs=outputs, parameters=shared - {"split_manifest"})


def create_pipeline(**kwargs) -> Pipeline:
    return sum((modality_pipeline(m) for m in registered()), Pipeline([]))
