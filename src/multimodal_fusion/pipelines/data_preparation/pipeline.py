"""`data_preparation`: load the manifest, validate every row, split it."""

from kedro.pipeline import Pipeline, node

from .nodes import split, validate


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(validate, inputs="manifest", outputs="validated_manifest",
             name="validate_manifest"),
        node(split, inputs=["validated_manifest", "params:data_preparation", "params:seed"],
             outputs="split_manifest", name="split_manifest"),
    ])
