"""`data_preparation`: load the manifest, validate every row and file, split it."""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.modalities import modality_names

from .nodes import split, validate


def create_pipeline(**kwargs) -> Pipeline:
    preprocessing = {name: f"params:{name}.preprocessing" for name in modality_names()}
    return Pipeline([
        node(validate, inputs={"manifest": "manifest", "settings": "params:data_preparation",
                               "extraction": "params:extraction", **preprocessing},
             outputs=["validated_manifest", "validation_report"], name="validate_manifest"),
        node(split, inputs={"manifest": "validated_manifest",
                            "settings": "params:data_preparation", "seed": "params:seed",
                            "extraction": "params:extraction", **preprocessing},
             outputs="split_manifest", name="split_manifest"),
    ])
