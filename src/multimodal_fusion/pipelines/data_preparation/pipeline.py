"""`data_preparation`: load the manifest, validate every row and file, split it."""

from kedro.pipeline import Pipeline, node

from .nodes import split, validate


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(validate, inputs=["manifest", "params:data_preparation",
                               "params:tabular.preprocessing", "params:feature_workers"],
             outputs=["validated_manifest", "quarantine_report"], name="validate_manifest"),
        node(split, inputs=["validated_manifest", "params:data_preparation", "params:seed"],
             outputs="split_manifest", name="split_manifest"),
    ])
